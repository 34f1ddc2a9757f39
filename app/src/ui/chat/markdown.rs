//! Model output as safe HTML: CommonMark (tables, strikethrough, task lists) where raw HTML is
//! shown as text, links keep only harmless schemes, images become their alt text, and fenced
//! code blocks are highlighted and get a copy button. Nothing a model writes can run.

use pulldown_cmark::{CodeBlockKind, CowStr, Event, Options, Parser, Tag, TagEnd, html};

use super::highlight::Grammars;

/// The Markdown extensions replies may use.
const OPTIONS: Options =
    Options::ENABLE_TABLES.union(Options::ENABLE_STRIKETHROUGH).union(Options::ENABLE_TASKLISTS);

/// A reply's Markdown, rendered as it streams in. Text only ever arrives at the end, and a
/// top-level block (a paragraph, a list, a code block…) followed by another can no longer
/// change, so each finished block is rendered once and kept: an update renders only the last,
/// unfinished block, however long the reply has grown.
#[derive(Clone, Debug, Default)]
pub struct StreamingMarkdown {
    /// The source of the finished blocks.
    done: String,
    /// The HTML of each finished block.
    blocks: Vec<String>,
    /// Counts the times the blocks were rendered anew (the text was not a continuation).
    generation: u32,
    /// The grammars code blocks are highlighted with, if they are here.
    grammars: Option<&'static Grammars>,
}

/// What a page shows of a reply: the finished blocks (kept by [`StreamingMarkdown`]) and the
/// HTML of the last one.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Rendered {
    /// Changes when every block was rendered anew: the page must replace, not append.
    pub generation: u32,
    /// How many finished blocks there are ([`StreamingMarkdown::block`]).
    pub blocks: usize,
    /// The HTML of the unfinished last block.
    pub tail: String,
}

impl StreamingMarkdown {
    /// Highlights code with `grammars` from now on: when they arrive, everything is rendered anew.
    pub fn highlight_with(&mut self, grammars: Option<&'static Grammars>) {
        if grammars.is_some() != self.grammars.is_some() {
            self.restart();
            self.grammars = grammars;
        }
    }

    /// Renders `markdown`, a continuation of the text seen so far (anything else starts over).
    pub fn update(&mut self, markdown: &str) -> Rendered {
        if !markdown.starts_with(&self.done) {
            self.restart();
        }
        let rest = &markdown[self.done.len()..];
        // A line still being written may yet join the block before it (a table row), so only
        // whole lines decide which blocks are finished.
        let whole_lines = rest.rfind('\n').map_or("", |end| &rest[..=end]);
        let starts = block_starts(whole_lines);
        if let Some(&last) = starts.last().filter(|_| starts.len() > 1) {
            let mut from = 0;
            for &to in &starts[1..] {
                self.blocks.push(render(&rest[from..to], self.grammars));
                from = to;
            }
            self.done.push_str(&rest[..last]);
        }
        self.rendered(render(&markdown[self.done.len()..], self.grammars))
    }

    /// Renders the finished reply: as [`update`](Self::update), unless rendering it whole
    /// differs (a link whose reference is defined in another block), when it starts over.
    pub fn finish(&mut self, markdown: &str) -> Rendered {
        if self.done.is_empty() {
            // Nothing was kept while streaming (a stored reply): render it whole, once.
            return self.rendered(render(markdown, self.grammars));
        }
        let streamed = self.update(markdown);
        let whole = render(markdown, self.grammars);
        if self.blocks.concat() + &streamed.tail == whole {
            return streamed;
        }
        self.restart();
        self.rendered(whole)
    }

    /// The HTML of finished block `index`.
    pub fn block(&self, index: usize) -> &str {
        self.blocks.get(index).map_or("", String::as_str)
    }

    fn restart(&mut self) {
        *self = Self { generation: self.generation + 1, grammars: self.grammars, ..Self::default() };
    }

    fn rendered(&self, tail: String) -> Rendered {
        Rendered { generation: self.generation, blocks: self.blocks.len(), tail }
    }
}

/// Where each top-level block of `markdown` starts, in bytes.
fn block_starts(markdown: &str) -> Vec<usize> {
    let mut starts = Vec::new();
    let mut depth = 0usize;
    for (event, range) in Parser::new_ext(markdown, OPTIONS).into_offset_iter() {
        match event {
            Event::Start(_) => {
                if depth == 0 {
                    starts.push(line_start(markdown, range.start));
                }
                depth += 1;
            }
            Event::End(_) => depth = depth.saturating_sub(1),
            _ if depth == 0 => starts.push(line_start(markdown, range.start)),
            _ => {}
        }
    }
    starts
}

/// The start of the line `at` is on: a block's indentation belongs to it (indented code).
fn line_start(text: &str, at: usize) -> usize {
    text[..at].rfind('\n').map_or(0, |newline| newline + 1)
}

/// Renders `markdown` to HTML that is safe to insert into the page, code highlighted with
/// `grammars`.
pub fn render(markdown: &str, grammars: Option<&Grammars>) -> String {
    let mut events = Vec::new();
    let mut code: Option<(String, String)> = None;
    for event in Parser::new_ext(markdown, OPTIONS) {
        match (event, &mut code) {
            (Event::Text(text), Some((_, body))) => body.push_str(&text),
            (Event::End(TagEnd::CodeBlock), Some(_)) => {
                if let Some((language, body)) = code.take() {
                    events.push(Event::Html(code_block(&language, &body, grammars).into()));
                }
            }
            (Event::Start(Tag::CodeBlock(kind)), _) => {
                let language = match kind {
                    CodeBlockKind::Fenced(info) => {
                        info.split_whitespace().next().unwrap_or_default().to_owned()
                    }
                    CodeBlockKind::Indented => String::new(),
                };
                code = Some((language, String::new()));
            }
            (Event::Html(raw) | Event::InlineHtml(raw), _) => events.push(Event::Text(raw)),
            (Event::Start(Tag::Link { link_type, dest_url, title, id }), _) => {
                let dest_url = if is_safe_url(&dest_url) { dest_url } else { CowStr::from("#") };
                events.push(Event::Start(Tag::Link { link_type, dest_url, title, id }));
            }
            (Event::Start(Tag::Image { .. }) | Event::End(TagEnd::Image), _) => {}
            (event, _) => events.push(event),
        }
    }
    let mut out = String::with_capacity(markdown.len() * 3 / 2);
    html::push_html(&mut out, events.into_iter());
    out
}

/// Web and mail addresses, and addresses within this site; no `javascript:`, `data:`, ….
fn is_safe_url(url: &str) -> bool {
    let lower = url.trim().to_ascii_lowercase();
    let scheme_end = lower.find([':', '/', '?', '#']);
    match scheme_end {
        Some(i) if lower.as_bytes()[i] == b':' => {
            lower.starts_with("http:") || lower.starts_with("https:") || lower.starts_with("mailto:")
        }
        _ => true,
    }
}

/// A fenced block: a header with the language and a copy button, then the code, highlighted if
/// the grammars are here and know the language.
fn code_block(language: &str, body: &str, grammars: Option<&Grammars>) -> String {
    let label = escape(if language.is_empty() { "text" } else { language });
    let code =
        grammars.and_then(|grammars| grammars.highlight(language, body)).unwrap_or_else(|| escape(body));
    format!(
        "<div class=\"code-block\"><div class=\"code-head\"><span>{label}</span>\
         <button type=\"button\" class=\"copy-code\">Copy</button></div>\
         <pre><code class=\"language-{label}\">{code}</code></pre></div>\n"
    )
}

fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ui::chat::highlight::grammars;

    /// A renderer that highlights, as on the server.
    fn highlighting() -> StreamingMarkdown {
        let mut streaming = StreamingMarkdown::default();
        streaming.highlight_with(grammars());
        streaming
    }

    const REPLY: &str = "# Plan\n\nFirst a paragraph\nover two lines, with **bold**.\n\n- one\n- two\n\n  still two\n- three\n\n\
        Setext heading\n---\n\n```rust\nfn main() {\n    println!(\"hi\");\n}\n```\n\n> a quote\nlazily continued\n\n\
        | a | b |\n|---|---|\n| 1 | 2 |\n\n1. first\n2. second\n\n***\n\n    indented code\n\nThe end.";

    #[test]
    fn a_streamed_reply_renders_as_the_whole_text_at_every_step() {
        let mut streaming = highlighting();
        let mut generations = std::collections::BTreeSet::new();
        for end in (0..=REPLY.len()).filter(|&i| REPLY.is_char_boundary(i)) {
            let prefix = &REPLY[..end];
            let rendered = streaming.update(prefix);
            generations.insert(rendered.generation);
            let shown = (0..rendered.blocks).map(|i| streaming.block(i)).collect::<String>() + &rendered.tail;
            assert_eq!(shown, render(prefix, grammars()), "after {end} bytes: {prefix:?}");
        }
        assert_eq!(generations.len(), 1, "a continuation never starts over");
        assert_eq!(streaming.blocks.len(), 9, "every block but the last is kept");
    }

    #[test]
    fn other_text_starts_over_and_references_across_blocks_are_resolved_at_the_end() {
        let mut streaming = highlighting();
        let first = streaming.update("one\n\ntwo\n\nthree");
        assert_eq!(first.blocks, 1);
        let other = streaming.update("different\n\ntext\n\nhere");
        assert_ne!(first.generation, other.generation);
        assert_eq!(streaming.block(0), render("different\n\n", grammars()));

        let text = "See [the docs][d].\n\n[d]: https://example.com\n\nDone.";
        let mut streaming = highlighting();
        for end in 1..=text.len() {
            streaming.update(&text[..end]);
        }
        let done = streaming.finish(text);
        let shown = (0..done.blocks).map(|i| streaming.block(i)).collect::<String>() + &done.tail;
        assert_eq!(shown, render(text, grammars()));
        assert!(shown.contains(r#"<a href="https://example.com">the docs</a>"#), "{shown}");
    }

    #[test]
    fn markdown_becomes_html() {
        let html = render(
            "# Title\n\nSome **bold** and a [link](https://example.com).\n\n| a | b |\n|---|---|\n| 1 | 2 |",
            grammars(),
        );
        assert!(html.contains("<h1>Title</h1>") && html.contains("<strong>bold</strong>"), "{html}");
        assert!(
            html.contains(r#"<a href="https://example.com">link</a>"#) && html.contains("<table>"),
            "{html}"
        );
    }

    #[test]
    fn code_blocks_are_highlighted_escaped_and_copyable() {
        let code = "```rust\nfn main() { let s = \"<b>\"; // note\n}\n```";
        let html = render(code, grammars());
        assert!(
            html.contains(r#"<span class="tok-storage tok-type tok-function tok-rust">fn</span>"#),
            "{html}"
        );
        assert!(html.contains("&lt;b&gt;") && !html.contains("<b>"), "{html}");
        assert!(html.contains("copy-code") && html.contains("<span>rust</span>"), "{html}");
        // Before the grammars are here (in the browser), code is shown plain, still escaped.
        let plain = render(code, None);
        assert!(
            plain.contains("fn main() { let s = &quot;&lt;b&gt;&quot;; // note") && !plain.contains("tok-")
        );
        let unknown = render("```klingon\n<b>\n```", grammars());
        assert!(unknown.contains("&lt;b&gt;") && unknown.contains("<span>klingon</span>"), "{unknown}");
    }

    #[test]
    fn arriving_grammars_render_everything_anew() {
        let mut streaming = StreamingMarkdown::default();
        let plain = streaming.update("```rust\nfn f() {}\n```\n\nmore\n\nand more");
        assert!(!streaming.block(0).contains("tok-"));
        streaming.highlight_with(grammars());
        let highlighted = streaming.update("```rust\nfn f() {}\n```\n\nmore\n\nand more");
        assert_ne!(plain.generation, highlighted.generation, "the page replaces what it showed");
        assert!(streaming.block(0).contains("tok-rust"), "{}", streaming.block(0));
    }

    #[test]
    fn nothing_a_model_writes_can_run() {
        let html = render(
            "<script>alert(1)</script>\n\n<img src=x onerror=alert(1)> [a](javascript:alert(1)) \
             [b](JaVaScRiPt:alert(1)) ![c](data:text/html,x) <a href=\"javascript:x\">d</a>",
            grammars(),
        );
        assert!(
            !html.contains("<script") && !html.contains("<img") && !html.contains("<a href=\"javascript"),
            "{html}"
        );
        assert!(
            !html.to_lowercase().contains("<a href=\"javascript:") && !html.contains("data:text"),
            "{html}"
        );
        assert!(html.contains("&lt;script&gt;"), "raw HTML is shown as text: {html}");
        assert!(is_safe_url("/chat/1") && is_safe_url("#x") && is_safe_url("mailto:a@b.c"));
        assert!(!is_safe_url(" javascript:alert(1)") && !is_safe_url("vbscript:x"));
    }
}
