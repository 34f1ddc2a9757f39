//! Code highlighting with syntect and its bundled grammars (the Sublime Text syntax definitions
//! of about 75 languages). The server has the grammars built in. The browser's WebAssembly
//! carries only the highlighter: it fetches the grammars once, from [`GRAMMARS_URL`], when a
//! reply first shows a fenced code block, and shows code plain until they are here.

use std::cell::RefCell;
use std::sync::OnceLock;

use leptos::prelude::*;
use syntect::html::{ClassStyle, line_tokens_to_classed_spans};
use syntect::parsing::{ParseState, ScopeStack, SyntaxReference, SyntaxSet};
use syntect::util::LinesWithEndings;

/// Where the server serves the grammars for the browser: versioned, so it may be cached forever.
pub const GRAMMARS_URL: &str = concat!("/highlight/grammars-", env!("CARGO_PKG_VERSION"), ".bin");

/// Blocks longer than this are shown plain: highlighting is linear in practice, but a grammar's
/// backtracking regexes can be slow on pathological input, and the server renders stored replies.
pub const MAX_HIGHLIGHTED_BYTES: usize = 32 * 1024;

/// Token classes are the grammar's scope names with this prefix (`tok-keyword tok-control`).
const CLASS_STYLE: ClassStyle = ClassStyle::SpacedPrefixed { prefix: "tok-" };

/// The grammars, once loaded: the server's built-in set, or the one the browser fetched.
static GRAMMARS: OnceLock<Grammars> = OnceLock::new();

/// A set of grammars and the highlighter over them.
#[derive(Debug)]
pub struct Grammars(SyntaxSet);

impl Grammars {
    /// Reads grammars written by [`dump`](Self::dump).
    pub fn from_dump(bytes: &[u8]) -> Result<Self, String> {
        syntect::dumps::from_reader(bytes).map(Self).map_err(|error| format!("unreadable grammars: {error}"))
    }

    /// The grammars in the compact form the browser fetches.
    pub fn dump(&self) -> Result<Vec<u8>, String> {
        let mut bytes = Vec::new();
        syntect::dumps::dump_to_writer(&self.0, &mut bytes).map_err(|error| error.to_string())?;
        Ok(bytes)
    }

    /// `code` as HTML with its tokens in `<span class="tok-…">` (everything escaped), if
    /// `language` (a name or a file extension, as after a fence) has a grammar.
    ///
    /// A block that streams in is highlighted again at every chunk, so the work on its whole
    /// lines is kept: when `code` continues the block highlighted last on this thread, only the
    /// lines after those are parsed.
    pub fn highlight(&self, language: &str, code: &str) -> Option<String> {
        if language.is_empty() || code.len() > MAX_HIGHLIGHTED_BYTES {
            return None;
        }
        let syntax = self.0.find_syntax_by_token(language)?;
        LAST_BLOCK.with_borrow_mut(|last| {
            let mut block = last
                .take()
                .filter(|block| block.continued_by(self, syntax, code))
                .unwrap_or_else(|| Block::new(self, syntax));
            let rest = &code[block.source.len()..];
            let (whole_lines, partial_line) = rest.split_at(rest.rfind('\n').map_or(0, |end| end + 1));
            for line in LinesWithEndings::from(whole_lines) {
                block.push(&self.0, line)?;
            }
            let html = if partial_line.is_empty() {
                block.html()
            } else {
                let mut partial = block.clone();
                partial.push(&self.0, partial_line)?;
                partial.html()
            };
            *last = Some(block);
            Some(html)
        })
    }
}

thread_local! {
    /// The block highlighted last on this thread, up to its last whole line.
    static LAST_BLOCK: RefCell<Option<Block>> = const { RefCell::new(None) };
}

/// A code block highlighted line by line: the lines so far, their HTML, and the parser's state
/// after them.
#[derive(Clone)]
struct Block {
    /// Which grammars and which of their syntaxes parsed it.
    grammars: *const Grammars,
    syntax: String,
    source: String,
    html: String,
    open_spans: isize,
    parser: ParseState,
    scopes: ScopeStack,
}

impl Block {
    fn new(grammars: &Grammars, syntax: &SyntaxReference) -> Self {
        Self {
            grammars,
            syntax: syntax.name.clone(),
            source: String::new(),
            html: String::new(),
            open_spans: 0,
            parser: ParseState::new(syntax),
            scopes: ScopeStack::new(),
        }
    }

    /// Whether `code` is this block with more lines, in the same language.
    fn continued_by(&self, grammars: &Grammars, syntax: &SyntaxReference, code: &str) -> bool {
        std::ptr::eq(self.grammars, grammars) && self.syntax == syntax.name && code.starts_with(&self.source)
    }

    fn push(&mut self, syntaxes: &SyntaxSet, line: &str) -> Option<()> {
        let operations = self.parser.parse_line(line, syntaxes).ok()?;
        let (html, opened) =
            line_tokens_to_classed_spans(line, &operations, CLASS_STYLE, &mut self.scopes).ok()?;
        self.html.push_str(&html);
        self.open_spans += opened;
        self.source.push_str(line);
        Some(())
    }

    /// The HTML so far, every span closed.
    fn html(&self) -> String {
        let open = usize::try_from(self.open_spans).unwrap_or(0);
        format!("{}{}", self.html, "</span>".repeat(open))
    }
}

/// The grammars, if they are here: always on the server.
pub fn grammars() -> Option<&'static Grammars> {
    source::grammars()
}

/// The server's grammars are built in.
#[cfg(feature = "ssr")]
mod source {
    use super::{GRAMMARS, Grammars, SyntaxSet};

    pub fn grammars() -> Option<&'static Grammars> {
        Some(GRAMMARS.get_or_init(|| Grammars(SyntaxSet::load_defaults_newlines())))
    }
}

/// The browser's grammars are here once fetched.
#[cfg(not(feature = "ssr"))]
mod source {
    use super::{GRAMMARS, Grammars};

    pub fn grammars() -> Option<&'static Grammars> {
        GRAMMARS.get()
    }
}

/// Whether the grammars are here, for the views that highlight (provided by the Chat page): a
/// view that reads [`ready`](Self::ready) renders again once they arrive.
#[derive(Clone, Copy, Debug)]
pub struct Highlighting {
    ready: RwSignal<bool>,
}

impl Default for Highlighting {
    fn default() -> Self {
        Self { ready: RwSignal::new(grammars().is_some()) }
    }
}

impl Highlighting {
    /// The grammars, if they are here; tracked.
    pub fn ready(&self) -> Option<&'static Grammars> {
        self.ready.track();
        grammars()
    }

    /// Fetches the grammars (once per page) if `markdown` has a fenced code block.
    pub fn load_for(&self, markdown: &str) {
        if !self.ready.get_untracked() && (markdown.contains("```") || markdown.contains("~~~")) {
            fetch::start(self.ready);
        }
    }
}

/// The browser fetches the grammars in the background.
#[cfg(feature = "hydrate")]
mod fetch {
    use std::sync::atomic::{AtomicBool, Ordering};

    use leptos::prelude::*;

    use super::{GRAMMARS, GRAMMARS_URL, Grammars};

    /// Set once a fetch started: a page fetches the grammars at most once.
    static STARTED: AtomicBool = AtomicBool::new(false);

    pub fn start(ready: RwSignal<bool>) {
        if STARTED.swap(true, Ordering::Relaxed) {
            return;
        }
        leptos::task::spawn_local(async move {
            match load().await {
                Ok(grammars) => {
                    let _ = GRAMMARS.set(grammars);
                    ready.set(true);
                }
                Err(error) => leptos::logging::warn!("code stays plain: {error}"),
            }
        });
    }

    async fn load() -> Result<Grammars, String> {
        let response = gloo_net::http::Request::get(GRAMMARS_URL).send().await.map_err(|e| e.to_string())?;
        if !response.ok() {
            return Err(format!("{GRAMMARS_URL} answered {}", response.status()));
        }
        Grammars::from_dump(&response.binary().await.map_err(|e| e.to_string())?)
    }
}

/// Outside the browser there is nothing to fetch.
#[cfg(not(feature = "hydrate"))]
mod fetch {
    use leptos::prelude::RwSignal;

    pub fn start(_: RwSignal<bool>) {}
}

#[cfg(all(test, feature = "ssr"))]
mod tests {
    use super::*;

    #[test]
    fn languages_are_found_by_name_or_extension_and_everything_is_escaped() {
        let grammars = grammars().expect("built in on the server");
        let rust = grammars.highlight("rust", "fn main() { let s = \"<b>\"; // note\n}\n").unwrap();
        assert!(
            rust.contains(r#"<span class="tok-storage tok-type tok-function tok-rust">fn</span>"#),
            "{rust}"
        );
        assert!(rust.contains("&quot;</span>&lt;b&gt;") && !rust.contains("<b>"), "{rust}");
        assert!(rust.contains(r#"<span class="tok-comment tok-line tok-double-slash tok-rust">"#), "{rust}");
        let python = grammars.highlight("py", "def f():\n    return 1  # one\n").unwrap();
        assert!(python.contains(r#"tok-storage tok-type tok-function tok-python">def</span>"#), "{python}");
        assert_eq!(grammars.highlight("no-such-language", "x"), None);
        assert_eq!(grammars.highlight("", "x"), None);
        assert_eq!(grammars.highlight("rust", &"x".repeat(MAX_HIGHLIGHTED_BYTES + 1)), None);
    }

    #[test]
    fn a_block_highlighted_as_it_streams_equals_the_block_highlighted_whole() {
        let grammars = grammars().unwrap();
        let code =
            "fn main() {\n    let s = \"a /* b\";\n    /* a comment\n    over lines */\n    x += 1;\n}\n";
        let forget = || LAST_BLOCK.with_borrow_mut(|last| *last = None);
        let whole: Vec<_> = (1..=code.len())
            .map(|end| {
                forget();
                grammars.highlight("rust", &code[..end])
            })
            .collect();
        forget();
        let streamed: Vec<_> = (1..=code.len()).map(|end| grammars.highlight("rust", &code[..end])).collect();
        assert_eq!(streamed, whole);
        grammars.highlight("python", "x = 1\n");
        assert_eq!(
            grammars.highlight("rust", code),
            whole.last().cloned().flatten(),
            "another block in between"
        );
    }

    #[test]
    fn the_browser_reads_the_grammars_the_server_writes() {
        let dump = grammars().unwrap().dump().unwrap();
        let read = Grammars::from_dump(&dump).unwrap();
        assert_eq!(
            read.highlight("rust", "fn f() {}\n"),
            grammars().unwrap().highlight("rust", "fn f() {}\n")
        );
        assert!(Grammars::from_dump(b"not grammars").is_err());
    }
}
