//! The regulations the standard library encodes (`stdlib/regulations.toml`): each
//! regulation's title, issuer, jurisdiction, document and text, and article by article
//! what the modules encode, from when it applies, and what they leave out. The report
//! groups its rows by these regulations; a test keeps the catalogue in step with the
//! modules' `cite`s and `effective` dates.

use std::sync::OnceLock;

use serde::{Deserialize, Serialize};

static TEXT: &str = include_str!("../../stdlib/regulations.toml");

#[derive(Debug, Clone, Deserialize, Serialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct Catalogue {
    #[serde(rename = "regulation")]
    pub regulations: Vec<Regulation>,
}

#[derive(Debug, Clone, Deserialize, Serialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct Regulation {
    /// The prefix of its articles' citations: `EU AI Act`.
    pub name: String,
    pub title: String,
    /// The title in the language of the text, where that is not English.
    pub original_title: Option<String>,
    pub issuer: String,
    pub jurisdiction: String,
    pub document: String,
    /// Which text the articles were read against (version, consolidation date).
    pub text_version: String,
    pub in_force: String,
    pub url: String,
    /// The day the encoded articles were read against `text_version`; `None`: not yet.
    pub reviewed: Option<String>,
    #[serde(rename = "article")]
    pub articles: Vec<ArticleText>,
    #[serde(rename = "not_encoded", default)]
    pub not_encoded: Vec<NotEncoded>,
}

#[derive(Debug, Clone, Deserialize, Serialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct ArticleText {
    /// Exactly as modules cite it: `EU AI Act Art. 73(2)`.
    pub cite: String,
    /// `YYYY-MM-DD`.
    pub applies_from: String,
    /// In English; for a text in another language, an unofficial translation.
    pub summary: String,
    /// The article in the language of the text.
    pub original: Option<String>,
}

#[derive(Debug, Clone, Deserialize, Serialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct NotEncoded {
    pub article: String,
    pub obligation: String,
}

impl Catalogue {
    /// The regulation and article a citation names, if the catalogue knows it.
    pub fn article(&self, cite: &str) -> Option<(&Regulation, &ArticleText)> {
        self.regulations.iter().find_map(|regulation| {
            regulation
                .articles
                .iter()
                .find(|a| a.cite == cite)
                .map(|a| (regulation, a))
        })
    }
}

/// Parses the catalogue embedded in the binary.
pub fn parse(text: &str) -> Result<Catalogue, String> {
    toml::from_str(text).map_err(|e| e.to_string())
}

/// The embedded catalogue. It is part of the binary and tested (`tests/it/stdlib.rs`),
/// so a parse failure is a build defect: it yields an empty catalogue and the report
/// says no citation is known, rather than failing a user's command.
pub fn catalogue() -> &'static Catalogue {
    static CATALOGUE: OnceLock<Catalogue> = OnceLock::new();
    CATALOGUE.get_or_init(|| {
        parse(TEXT).unwrap_or(Catalogue {
            regulations: Vec::new(),
        })
    })
}

/// The catalogue's text, for the test that checks it parses.
pub fn text() -> &'static str {
    TEXT
}
