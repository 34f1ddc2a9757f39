//! Files attached to chat messages: upload limits and kinds, text extracted from a real PDF and
//! from a picture by OCR, owner-only access, and agents reading the text.

use reqwest::Method;
use serde_json::{Value, json};

use crate::chat::{chat_app, rest};
use crate::fake_upstream::FakeUpstream;
use crate::helpers::TestUser;

/// A one-page PDF whose text is `text` (Helvetica, one line), with a correct cross-reference table.
pub fn pdf_with(text: &str) -> Vec<u8> {
    let content = format!("BT /F1 18 Tf 72 700 Td ({text}) Tj ET");
    let objects = [
        "<< /Type /Catalog /Pages 2 0 R >>".to_owned(),
        "<< /Type /Pages /Kids [3 0 R] /Count 1 >>".to_owned(),
        "<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents 4 0 R /Resources << /Font << /F1 5 0 R >> >> >>".to_owned(),
        format!("<< /Length {} >>\nstream\n{content}\nendstream", content.len()),
        "<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>".to_owned(),
    ];
    let mut pdf = b"%PDF-1.4\n".to_vec();
    let mut offsets = Vec::new();
    for (number, object) in objects.iter().enumerate() {
        offsets.push(pdf.len());
        pdf.extend(format!("{} 0 obj\n{object}\nendobj\n", number + 1).bytes());
    }
    let xref = pdf.len();
    pdf.extend(format!("xref\n0 {}\n0000000000 65535 f \n", objects.len() + 1).bytes());
    for offset in offsets {
        pdf.extend(format!("{offset:010} 00000 n \n").bytes());
    }
    pdf.extend(
        format!("trailer\n<< /Size {} /Root 1 0 R >>\nstartxref\n{xref}\n%%EOF\n", objects.len() + 1).bytes(),
    );
    pdf
}

/// A PNG of `text` in a 5×7 pixel font scaled up `scale` times, black on white.
fn png_of(text: &str, scale: u32) -> Vec<u8> {
    let glyph = |c: char| -> [&str; 7] {
        match c {
            'C' => ["01110", "10001", "10000", "10000", "10000", "10001", "01110"],
            'A' => ["01110", "10001", "10001", "11111", "10001", "10001", "10001"],
            'T' => ["11111", "00100", "00100", "00100", "00100", "00100", "00100"],
            'S' => ["01111", "10000", "10000", "01110", "00001", "00001", "11110"],
            'E' => ["11111", "10000", "10000", "11110", "10000", "10000", "11111"],
            _ => ["00000"; 7],
        }
    };
    let width = (text.len() as u32 * 6 + 4) * scale;
    let height = 11 * scale;
    let picture = image::GrayImage::from_fn(width, height, |x, y| {
        let (column, row) = (x / scale, y / scale);
        let inked = (2..9).contains(&row) && column >= 2 && (column - 2) % 6 < 5 && {
            let c = text.chars().nth(((column - 2) / 6) as usize).unwrap_or(' ');
            glyph(c)[(row - 2) as usize].as_bytes()[((column - 2) % 6) as usize] == b'1'
        };
        image::Luma([if inked { 0 } else { 255 }])
    });
    let mut png = std::io::Cursor::new(Vec::new());
    picture.write_to(&mut png, image::ImageFormat::Png).unwrap();
    png.into_inner()
}

/// Uploads `bytes` as `filename` to `session`; returns the status and the answer.
pub async fn upload(user: &TestUser, session: i64, filename: &str, bytes: Vec<u8>) -> (u16, Value) {
    let url = format!("{}/ai-chat/api/sessions/{session}/files/", user.address);
    let response = user
        .client
        .post(url)
        .query(&[("filename", filename)])
        .header("origin", &user.address)
        .body(bytes)
        .send()
        .await
        .unwrap();
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or(Value::Null))
}

/// The status of an upload that declares `length` bytes, read before any byte of the body is sent.
async fn declared_upload(user: &TestUser, session: i64, length: usize) -> u16 {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let host = user.address.trim_start_matches("http://");
    let mut stream = tokio::net::TcpStream::connect(host).await.unwrap();
    let request = format!(
        "POST /ai-chat/api/sessions/{session}/files/?filename=big.txt HTTP/1.1\r\nHost: {host}\r\nOrigin: {}\r\n\
         Cookie: {}\r\nContent-Length: {length}\r\n\r\n",
        user.address,
        user.cookies()
    );
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut head = [0u8; 12];
    stream.read_exact(&mut head).await.unwrap();
    std::str::from_utf8(&head[9..12]).unwrap().parse().unwrap()
}

async fn session_of(user: &TestUser, agent: &str) -> i64 {
    let (status, session) = rest(user, Method::POST, "sessions/", Some(json!({"agent": agent}))).await;
    assert_eq!(status, 201, "{session}");
    session["id"].as_i64().unwrap()
}

async fn send_with(user: &TestUser, session: i64, message: &str, files: &[Value]) -> (u16, Value) {
    let path = format!("sessions/{session}/send_message/");
    rest(user, Method::POST, &path, Some(json!({"message": message, "files": files}))).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn uploads_are_checked_their_text_extracted_and_only_their_owner_reaches_them() {
    let (app, _fake) = chat_app(|_| {}).await;
    let alice = app.sign_up("alice").await;
    let session = session_of(&alice, "chat").await;

    let (status, notes) = upload(&alice, session, "notes.md", b"# Notes\nBuy milk".to_vec()).await;
    assert_eq!(status, 201, "{notes}");
    assert_eq!(
        (notes["kind"].as_str(), notes["size"].as_i64(), notes["text_chars"].as_i64()),
        (Some("markdown"), Some(16), Some(16))
    );
    let pdf = pdf_with("The invoice total is 4217 euros.");
    let (status, invoice) = upload(&alice, session, "invoice.pdf", pdf.clone()).await;
    assert_eq!((status, invoice["kind"].as_str()), (201, Some("pdf")), "{invoice}");
    let (status, scan) = upload(&alice, session, "scan.png", png_of("CATS EAT", 8)).await;
    assert_eq!((status, scan["kind"].as_str()), (201, Some("png")), "{scan}");

    assert_eq!(
        declared_upload(&alice, session, 10 * 1024 * 1024 + 1).await,
        413,
        "refused before it is sent"
    );
    assert_eq!(
        upload(&alice, session, "two-mib.txt", vec![b'a'; 2 * 1024 * 1024]).await.0,
        201,
        "uploads may pass the body limit of other requests"
    );
    for (name, bytes, expected, reason) in [
        ("empty.txt", Vec::new(), 400, "empty"),
        ("tool.exe", b"MZ\x90\x00".to_vec(), 400, "not taken"),
        ("../up.txt", b"x".to_vec(), 400, "file name"),
        ("latin1.txt", vec![0xE9, 0x74, 0xE9], 422, "UTF-8"),
        ("broken.pdf", b"%PDF-1.4 not really".to_vec(), 422, "PDF"),
    ] {
        let (status, error) = upload(&alice, session, name, bytes).await;
        assert_eq!(status, expected, "{name}: {error}");
        assert!(error["message"].as_str().unwrap_or_default().contains(reason), "{name}: {error}");
    }

    let (_, listed) = rest(&alice, Method::GET, &format!("sessions/{session}/files/"), None).await;
    let names: Vec<&str> =
        listed.as_array().unwrap().iter().map(|f| f["filename"].as_str().unwrap()).collect();
    assert_eq!(names, ["notes.md", "invoice.pdf", "scan.png", "two-mib.txt"]);
    let download = format!("{}/ai-chat/api/files/{}/", app.address, invoice["id"]);
    let response = alice.client.get(&download).send().await.unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["content-type"], "application/pdf");
    assert!(response.headers()["content-disposition"].to_str().unwrap().starts_with("attachment"));
    assert_eq!(response.bytes().await.unwrap().to_vec(), pdf);

    let bob = app.sign_up("bob").await;
    assert_eq!(bob.client.get(&download).send().await.unwrap().status(), 404);
    assert_eq!(rest(&bob, Method::GET, &format!("sessions/{session}/files/"), None).await.0, 404);
    assert_eq!(upload(&bob, session, "x.txt", b"x".to_vec()).await.0, 404);
    let bobs = session_of(&bob, "chat").await;
    let (status, error) = send_with(&bob, bobs, "Read this", &[invoice["id"].clone()]).await;
    assert_eq!(status, 400, "another user's file cannot be sent: {error}");

    // The support agent reads the files sent with a message (the seed's `get_file_text`).
    let support = session_of(&alice, "support").await;
    let (_, pdf_file) =
        upload(&alice, support, "invoice.pdf", pdf_with("The invoice total is 4217 euros.")).await;
    let (_, png_file) = upload(&alice, support, "scan.png", png_of("CATS EAT", 8)).await;
    let (status, answer) =
        send_with(&alice, support, "What do these say?", &[pdf_file["id"].clone(), png_file["id"].clone()])
            .await;
    assert_eq!(status, 200, "{answer}");
    let reply = answer["reply"]["content"].as_str().unwrap();
    assert!(reply.contains("From invoice.pdf:") && reply.contains("4217"), "the PDF's text: {reply}");
    assert!(
        reply.contains("From scan.png:") && reply.contains("CATS EAT"),
        "the picture's text by OCR: {reply}"
    );
    assert_eq!(answer["user_message"]["files"][0]["filename"], "invoice.pdf", "the message lists its files");
    let (status, _) = send_with(&alice, support, "Again", &[pdf_file["id"].clone()]).await;
    assert_eq!(status, 400, "a file is sent once");
}

fn last_user_message(fake: &FakeUpstream) -> String {
    let body = fake.seen.last_body.lock().unwrap().clone();
    let messages = body["messages"].as_array().unwrap().clone();
    let user = messages.iter().rev().find(|m| m["role"] == "user").unwrap();
    user["content"].as_str().unwrap().to_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_chat_agent_reads_attached_text_within_its_budget_and_says_when_it_cut() {
    let (app, fake) = chat_app(|_| {}).await;
    let alice = app.sign_up("alice").await;
    let session = session_of(&alice, "chat").await;
    let (_, short) =
        upload(&alice, session, "invoice.pdf", pdf_with("The invoice total is 4217 euros.")).await;
    let (status, answer) = send_with(&alice, session, "What is the total?", &[short["id"].clone()]).await;
    assert_eq!(status, 200, "{answer}");
    let asked = last_user_message(&fake);
    assert!(asked.starts_with("What is the total?\n\n<file name=\"invoice.pdf\">"), "{asked}");
    assert!(asked.contains("4217"), "{asked}");
    assert!(!answer["reply"]["content"].as_str().unwrap().contains("is long"));

    let long = "word ".repeat(4_000);
    let (_, file) = upload(&alice, session, "long.txt", long.clone().into_bytes()).await;
    let (_, answer) = send_with(&alice, session, "Sum it up", &[file["id"].clone()]).await;
    let reply = answer["reply"]["content"].as_str().unwrap();
    assert!(reply.starts_with("*long.txt is long: I read its first 12000 of 20000 characters.*"), "{reply}");
    let asked = last_user_message(&fake);
    let inside = asked.split("<file name=\"long.txt\">\n").nth(1).unwrap().trim_end_matches("\n</file>");
    assert_eq!(inside.len(), 12_000, "the budget holds");
}
