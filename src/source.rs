//! The sources a compilation reads, each owning a disjoint range of global offsets.

use crate::syntax::span::Span;

#[derive(Debug, Clone)]
pub struct SourceFile {
    pub name: String,
    pub text: String,
    pub base: u32,
    /// Local byte offset of each line's first byte, so positions are found by binary
    /// search: lowering asks for one per rule, and a scan each time was quadratic.
    line_starts: Vec<usize>,
}

impl SourceFile {
    fn new(name: String, text: String, base: u32) -> Self {
        let line_starts = std::iter::once(0)
            .chain(text.match_indices('\n').map(|(i, _)| i + 1))
            .collect();
        SourceFile {
            name,
            text,
            base,
            line_starts,
        }
    }

    /// 1-based line and column (in characters) of a global offset inside this file.
    pub fn line_col(&self, offset: u32) -> (usize, usize) {
        let local = (offset.saturating_sub(self.base) as usize).min(self.text.len());
        let line = self
            .line_starts
            .partition_point(|&start| start <= local)
            .max(1);
        let line_start = self.line_starts.get(line - 1).copied().unwrap_or(0);
        let col = self
            .text
            .get(line_start..local)
            .map_or(0, |s| s.chars().count())
            + 1;
        (line, col)
    }

    pub fn end(&self) -> u32 {
        self.base + self.text.len() as u32
    }
}

#[derive(Debug, Clone, Default)]
pub struct SourceMap {
    files: Vec<SourceFile>,
}

impl SourceMap {
    pub fn new() -> Self {
        SourceMap::default()
    }

    /// Adds a file and returns its base offset. One byte of gap separates files so that
    /// an end-of-file span never points into the next file.
    pub fn add(&mut self, name: impl Into<String>, text: impl Into<String>) -> u32 {
        let base = self.files.last().map_or(0, |f| f.end() + 1);
        self.files
            .push(SourceFile::new(name.into(), text.into(), base));
        base
    }

    pub fn files(&self) -> &[SourceFile] {
        &self.files
    }

    /// The file a span starts in.
    pub fn file_of(&self, span: Span) -> Option<&SourceFile> {
        self.files
            .iter()
            .rev()
            .find(|f| f.base <= span.start && span.start <= f.end())
    }

    /// The source text a span covers.
    pub fn text(&self, span: Span) -> &str {
        self.file_of(span)
            .and_then(|f| {
                f.text
                    .get((span.start - f.base) as usize..(span.end.saturating_sub(f.base)) as usize)
            })
            .unwrap_or("")
    }
}
