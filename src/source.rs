//! The sources a compilation reads, each owning a disjoint range of global offsets.

use crate::syntax::span::Span;

#[derive(Debug, Clone)]
pub struct SourceFile {
    pub name: String,
    pub text: String,
    pub base: u32,
}

impl SourceFile {
    /// 1-based line and column (in characters) of a global offset inside this file.
    pub fn line_col(&self, offset: u32) -> (usize, usize) {
        let local = (offset.saturating_sub(self.base) as usize).min(self.text.len());
        let before = self.text.get(..local).unwrap_or("");
        let line = before.matches('\n').count() + 1;
        let line_start = before.rfind('\n').map_or(0, |i| i + 1);
        let col = before.get(line_start..).map_or(0, |s| s.chars().count()) + 1;
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
        self.files.push(SourceFile {
            name: name.into(),
            text: text.into(),
            base,
        });
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
