//! Files attached to chat messages: each stored under the files directory by id, with a
//! database row and the text extracted at upload (UTF-8 text kinds as they are, PDFs with
//! `pdf-extract`, pictures by OCR with Debian's `tesseract`). Every query stays within its owner's
//! files.

use std::path::PathBuf;
use std::process::Stdio;
use std::time::Duration;

use chrono::Utc;
use tokio::io::AsyncWriteExt;

use crate::backend::AppError;
use crate::backend::db::{Pool, on_engine};
use crate::protocol::{
    ChatSessionId, FileId, FileInfo, FileKind, MAX_FILE_BYTES, MessageId, UserId, parse_filename,
};

/// Most text kept from one file, in characters.
const MAX_TEXT_CHARS: usize = 1_000_000;
/// How long reading a picture's text may take.
const OCR_TIMEOUT: Duration = Duration::from_secs(60);

const FILE_COLUMNS: &str = "id, filename, kind, size, CAST(length(text) AS BIGINT) AS text_chars, created_at";

/// A file attached to the message being answered, with its text.
#[derive(Clone, Debug, PartialEq, sqlx::FromRow)]
pub struct Attachment {
    /// What the file is.
    #[sqlx(flatten)]
    pub info: FileInfo,
    text: String,
}

impl Attachment {
    /// The file's name.
    pub fn name(&self) -> &str {
        &self.info.filename
    }

    /// The text extracted from it (empty when it has none, e.g. a scanned PDF).
    pub fn text(&self) -> &str {
        &self.text
    }

    /// A text file that was never stored, for tests.
    #[cfg(test)]
    pub fn for_test(name: &str, text: &str) -> Self {
        let info = FileInfo {
            id: FileId(0),
            filename: name.into(),
            kind: FileKind::Text,
            size: text.len() as i64,
            text_chars: text.chars().count() as i64,
            created_at: Utc::now(),
        };
        Self { info, text: text.into() }
    }
}

/// The chat's files.
#[derive(Clone, Debug)]
pub struct FileStore {
    pool: Pool,
    dir: PathBuf,
}

impl FileStore {
    /// Files with rows in `pool` and bytes in `dir` (created when the first file comes).
    pub fn new(pool: Pool, dir: PathBuf) -> Self {
        Self { pool, dir }
    }

    fn path(&self, id: FileId) -> PathBuf {
        self.dir.join(id.to_string())
    }

    /// Stores a file uploaded to one of `owner_id`'s sessions (checked by the caller) after
    /// extracting its text; refuses kinds not taken, files over the limit, and files whose
    /// text cannot be read.
    pub async fn save(
        &self,
        owner_id: UserId,
        session_id: ChatSessionId,
        filename: &str,
        bytes: Vec<u8>,
    ) -> Result<FileInfo, AppError> {
        let filename = parse_filename(filename)?;
        if bytes.is_empty() {
            return Err(AppError::BadRequest("the file is empty".into()));
        }
        if bytes.len() > MAX_FILE_BYTES {
            return Err(AppError::TooLarge(format!("a file has at most {MAX_FILE_BYTES} bytes")));
        }
        let kind = FileKind::detect(&filename, &bytes[..bytes.len().min(16)])?;
        let size = i64::try_from(bytes.len()).unwrap_or(i64::MAX);
        let (text, bytes) = extract_text(kind, bytes).await?;
        let info: FileInfo = on_engine!(&self.pool, |pool| sqlx::query_as(&format!(
            "INSERT INTO chat_files (owner_id, session_id, filename, kind, size, text, created_at)
             VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING {FILE_COLUMNS}"
        ))
        .bind(owner_id)
        .bind(session_id)
        .bind(&filename)
        .bind(kind)
        .bind(size)
        .bind(&text)
        .bind(Utc::now())
        .fetch_one(pool)
        .await)?;
        let written = async {
            tokio::fs::create_dir_all(&self.dir).await?;
            tokio::fs::write(self.path(info.id), &bytes).await
        };
        if let Err(e) = written.await {
            on_engine!(&self.pool, |pool| sqlx::query("DELETE FROM chat_files WHERE id = $1")
                .bind(info.id)
                .execute(pool)
                .await
                .map(|done| done.rows_affected()))?;
            return Err(AppError::Unavailable(format!("the file cannot be stored: {e}")));
        }
        Ok(info)
    }

    /// The files uploaded to a session, oldest first.
    pub async fn list(&self, owner_id: UserId, session_id: ChatSessionId) -> Result<Vec<FileInfo>, AppError> {
        Ok(on_engine!(&self.pool, |pool| sqlx::query_as(&format!(
            "SELECT {FILE_COLUMNS} FROM chat_files WHERE owner_id = $1 AND session_id = $2 ORDER BY id"
        ))
        .bind(owner_id)
        .bind(session_id)
        .fetch_all(pool)
        .await)?)
    }

    /// One of `owner_id`'s files and its bytes.
    pub async fn content(&self, owner_id: UserId, id: FileId) -> Result<(FileInfo, Vec<u8>), AppError> {
        let info: Option<FileInfo> = on_engine!(&self.pool, |pool| sqlx::query_as(&format!(
            "SELECT {FILE_COLUMNS} FROM chat_files WHERE id = $1 AND owner_id = $2"
        ))
        .bind(id)
        .bind(owner_id)
        .fetch_optional(pool)
        .await)?;
        let info = info.ok_or(AppError::NotFound)?;
        let bytes = tokio::fs::read(self.path(id))
            .await
            .map_err(|e| AppError::Unavailable(format!("the file cannot be read: {e}")))?;
        Ok((info, bytes))
    }

    /// The files `ids` with their text: uploaded to this session of `owner_id`'s and not sent
    /// with a message yet; otherwise the first that is not is refused.
    pub async fn unsent(
        &self,
        owner_id: UserId,
        session_id: ChatSessionId,
        ids: &[FileId],
    ) -> Result<Vec<Attachment>, AppError> {
        let mut attachments = Vec::with_capacity(ids.len());
        for &id in ids {
            let found =
                self.attachments(owner_id, session_id, "id = $3 AND message_id IS NULL", id.0).await?;
            let attachment = found.into_iter().next().ok_or_else(|| {
                AppError::BadRequest(format!("file {id} is not one uploaded to this chat and not sent yet"))
            })?;
            attachments.push(attachment);
        }
        Ok(attachments)
    }

    /// The files sent with message `message_id`, with their text.
    pub async fn of_message(
        &self,
        owner_id: UserId,
        session_id: ChatSessionId,
        message_id: MessageId,
    ) -> Result<Vec<Attachment>, AppError> {
        self.attachments(owner_id, session_id, "message_id = $3", message_id.0).await
    }

    async fn attachments(
        &self,
        owner_id: UserId,
        session_id: ChatSessionId,
        condition: &str,
        value: i64,
    ) -> Result<Vec<Attachment>, AppError> {
        Ok(on_engine!(&self.pool, |pool| sqlx::query_as(&format!(
            "SELECT {FILE_COLUMNS}, text FROM chat_files
             WHERE owner_id = $1 AND session_id = $2 AND {condition} ORDER BY id"
        ))
        .bind(owner_id)
        .bind(session_id)
        .bind(value)
        .fetch_all(pool)
        .await)?)
    }

    /// Deletes the bytes of a session's files (their rows go with the session).
    pub async fn delete_bytes(&self, files: &[FileInfo]) {
        for file in files {
            if let Err(e) = tokio::fs::remove_file(self.path(file.id)).await {
                tracing::warn!(file = %file.id, "cannot delete a file: {e}");
            }
        }
    }
}

/// The text of a file of `kind`, and its bytes back.
async fn extract_text(kind: FileKind, bytes: Vec<u8>) -> Result<(String, Vec<u8>), AppError> {
    let text = match kind {
        FileKind::Text | FileKind::Markdown | FileKind::Csv | FileKind::Json => {
            let text = std::str::from_utf8(&bytes)
                .map_err(|_| AppError::Unprocessable("the file is not UTF-8 text".into()))?;
            text.trim_start_matches('\u{feff}').to_owned()
        }
        FileKind::Pdf => {
            let (text, back) = tokio::task::spawn_blocking(move || {
                let text = pdf_extract::extract_text_from_mem(&bytes);
                (text, bytes)
            })
            .await
            .map_err(|_| AppError::Unprocessable("the PDF cannot be read".into()))?;
            let text = text.map_err(|e| AppError::Unprocessable(format!("the PDF cannot be read: {e}")))?;
            return Ok((clip(text), back));
        }
        FileKind::Png | FileKind::Jpeg => ocr(&bytes).await?,
    };
    Ok((clip(text), bytes))
}

/// At most [`MAX_TEXT_CHARS`] of `text`.
fn clip(text: String) -> String {
    match text.char_indices().nth(MAX_TEXT_CHARS) {
        Some((end, _)) => text[..end].to_owned(),
        None => text,
    }
}

/// The text `tesseract` reads in a picture.
async fn ocr(picture: &[u8]) -> Result<String, AppError> {
    let mut child = tokio::process::Command::new("tesseract")
        .args(["stdin", "stdout"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .map_err(|e| {
            AppError::Unavailable(format!(
                "reading text in pictures needs `tesseract` (Debian's tesseract-ocr): {e}"
            ))
        })?;
    let mut stdin = child.stdin.take().ok_or_else(|| AppError::Internal("tesseract has no input".into()))?;
    let picture = picture.to_vec();
    let feed = tokio::spawn(async move { stdin.write_all(&picture).await });
    let output = tokio::time::timeout(OCR_TIMEOUT, child.wait_with_output())
        .await
        .map_err(|_| AppError::Unprocessable("reading the picture's text took too long".into()))?
        .map_err(|e| AppError::Unavailable(format!("tesseract failed: {e}")))?;
    let _ = feed.await;
    if !output.status.success() {
        let reason = String::from_utf8_lossy(&output.stderr);
        return Err(AppError::Unprocessable(format!("the picture cannot be read: {}", reason.trim())));
    }
    Ok(String::from_utf8_lossy(&output.stdout).trim().to_owned())
}
