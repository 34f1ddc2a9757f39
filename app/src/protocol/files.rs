//! Files attached to chat messages: what they are, and which kinds are taken.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::{ApiError, FileId};

/// Largest file accepted, in bytes.
pub const MAX_FILE_BYTES: usize = 10 * 1024 * 1024;
/// Most files one message may carry.
pub const MAX_FILES_PER_MESSAGE: usize = 5;

/// The kinds of file taken, by name and content.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
#[cfg_attr(feature = "ssr", derive(sqlx::Type), sqlx(type_name = "TEXT", rename_all = "lowercase"))]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub enum FileKind {
    /// Plain text (`.txt`).
    Text,
    /// Markdown (`.md`).
    Markdown,
    /// Comma-separated values (`.csv`).
    Csv,
    /// JSON (`.json`).
    Json,
    /// A PDF document; its text is extracted.
    Pdf,
    /// A PNG picture; its text is read by OCR.
    Png,
    /// A JPEG picture; its text is read by OCR.
    Jpeg,
}

impl FileKind {
    /// The kind of a file called `name` with these first bytes: pictures and PDFs by their
    /// signature, text kinds by their extension.
    pub fn detect(name: &str, head: &[u8]) -> Result<Self, ApiError> {
        if head.starts_with(b"%PDF-") {
            return Ok(Self::Pdf);
        }
        if head.starts_with(b"\x89PNG\r\n\x1a\n") {
            return Ok(Self::Png);
        }
        if head.starts_with(&[0xFF, 0xD8, 0xFF]) {
            return Ok(Self::Jpeg);
        }
        let extension = name.rsplit_once('.').map(|(_, e)| e.to_ascii_lowercase()).unwrap_or_default();
        match extension.as_str() {
            "txt" | "text" | "log" => Ok(Self::Text),
            "md" | "markdown" => Ok(Self::Markdown),
            "csv" => Ok(Self::Csv),
            "json" => Ok(Self::Json),
            _ => Err(ApiError::bad_request(
                "this kind of file is not taken: send text, Markdown, CSV, JSON, PDF, PNG or JPEG",
            )),
        }
    }

    /// The media type the file is served as.
    pub fn content_type(self) -> &'static str {
        match self {
            Self::Text => "text/plain; charset=utf-8",
            Self::Markdown => "text/markdown; charset=utf-8",
            Self::Csv => "text/csv; charset=utf-8",
            Self::Json => "application/json",
            Self::Pdf => "application/pdf",
            Self::Png => "image/png",
            Self::Jpeg => "image/jpeg",
        }
    }
}

/// A stored file.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema, sqlx::FromRow))]
pub struct FileInfo {
    /// Database id.
    pub id: FileId,
    /// Its name, as uploaded.
    pub filename: String,
    /// What it is.
    pub kind: FileKind,
    /// Its size in bytes.
    pub size: i64,
    /// Characters of text extracted from it.
    pub text_chars: i64,
    /// When it was uploaded.
    pub created_at: DateTime<Utc>,
}

/// A file name, checked: 1–200 characters, no path, no control characters.
pub fn parse_filename(name: &str) -> Result<String, ApiError> {
    let name = name.trim();
    let plain =
        !name.contains(['/', '\\']) && !name.chars().any(char::is_control) && name != "." && name != "..";
    if (1..=200).contains(&name.chars().count()) && plain {
        Ok(name.to_owned())
    } else {
        Err(ApiError::bad_request("a file name has 1 to 200 characters, without `/` or `\\`"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinds_come_from_signatures_then_extensions() {
        assert_eq!(FileKind::detect("scan.txt", b"%PDF-1.4").unwrap(), FileKind::Pdf, "the content decides");
        assert_eq!(FileKind::detect("a.PNG", b"\x89PNG\r\n\x1a\n...").unwrap(), FileKind::Png);
        assert_eq!(FileKind::detect("notes.md", b"# Notes").unwrap(), FileKind::Markdown);
        assert_eq!(FileKind::detect("data.csv", b"a,b").unwrap(), FileKind::Csv);
        assert!(FileKind::detect("tool.exe", b"MZ").is_err());
        assert!(FileKind::detect("fake.pdf", b"not a pdf").is_err(), "a PDF by name only is refused");
    }

    #[test]
    fn file_names_are_checked() {
        assert_eq!(parse_filename(" report.pdf ").unwrap(), "report.pdf");
        for bad in ["", "../etc/passwd", "a/b", "a\\b", "bad\nname", ".."] {
            assert!(parse_filename(bad).is_err(), "{bad:?}");
        }
    }
}
