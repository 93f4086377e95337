//! LSP positions (line, UTF-16 code unit) ↔ byte offsets.

#[derive(Debug, Clone)]
pub struct LineIndex {
    starts: Vec<usize>,
}

impl LineIndex {
    pub fn new(text: &str) -> LineIndex {
        let mut starts = vec![0];
        starts.extend(text.match_indices('\n').map(|(i, _)| i + 1));
        LineIndex { starts }
    }

    /// (line, UTF-16 column) of a byte offset.
    pub fn position(&self, text: &str, offset: usize) -> (u32, u32) {
        let offset = offset.min(text.len());
        let line = self
            .starts
            .partition_point(|&s| s <= offset)
            .saturating_sub(1);
        let start = self.starts.get(line).copied().unwrap_or(0);
        let column: usize = text
            .get(start..offset)
            .map_or(0, |s| s.chars().map(char::len_utf16).sum());
        (line as u32, column as u32)
    }

    /// The byte offset of (line, UTF-16 column), clamped to the line and the text.
    pub fn offset(&self, text: &str, line: u32, column: u32) -> usize {
        let Some(&start) = self.starts.get(line as usize) else {
            return text.len();
        };
        let end = self
            .starts
            .get(line as usize + 1)
            .map_or(text.len(), |&e| e.saturating_sub(1));
        let mut units = 0usize;
        for (i, c) in text.get(start..end).unwrap_or("").char_indices() {
            if units >= column as usize {
                return start + i;
            }
            units += c.len_utf16();
        }
        end
    }
}
