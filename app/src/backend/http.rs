//! The HTTP side of authentication: the session cookie, reading credentials from a request, the
//! same-origin check that guards cookie-authenticated requests, and the client's address behind
//! trusted proxies.

use std::net::IpAddr;

use axum::http::{HeaderMap, HeaderValue, header};
use ipnet::IpNet;
use serde::{Deserialize, Serialize};

use super::accounts::Credentials;

/// Name of the browser-session cookie.
pub const SESSION_COOKIE: &str = "aic_session";

/// Reads a request's credentials: the session cookie, an `Authorization: Token …` header, or
/// (for websocket clients that cannot set headers) a `token` from the query string.
pub fn credentials(headers: &HeaderMap, query_token: Option<&str>) -> Credentials {
    let header_token = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Token "))
        .map(str::trim);
    let session = headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(name, _)| *name == SESSION_COOKIE)
        .map(|(_, value)| value.to_owned());
    Credentials {
        session: session.filter(|s| !s.is_empty()),
        token: header_token.or(query_token).filter(|t| !t.is_empty()).map(str::to_owned),
    }
}

/// True when the request reached us over HTTPS through a proxy (`X-Forwarded-Proto: https`),
/// so cookies must be `Secure`.
pub fn is_https(headers: &HeaderMap) -> bool {
    headers.get("x-forwarded-proto").is_some_and(|v| v.as_bytes().eq_ignore_ascii_case(b"https"))
}

/// The proxies in front of the app (`AIC_TRUSTED_PROXIES`, addresses or ranges such as
/// `["127.0.0.1", "10.0.0.0/8"]`), whose `X-Forwarded-For` names the client. Requests from
/// anywhere else are taken from their own address, whatever they claim.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "Vec<String>", into = "Vec<String>")]
pub struct TrustedProxies(Vec<IpNet>);

impl TryFrom<Vec<String>> for TrustedProxies {
    type Error = String;

    fn try_from(entries: Vec<String>) -> Result<Self, Self::Error> {
        let range = |entry: &str| {
            let entry = entry.trim();
            entry
                .parse::<IpNet>()
                .or_else(|_| entry.parse::<IpAddr>().map(IpNet::from))
                .map_err(|_| format!("`{entry}` is neither an address nor a range like 10.0.0.0/8"))
        };
        entries.iter().map(|entry| range(entry)).collect::<Result<_, _>>().map(Self)
    }
}

impl From<TrustedProxies> for Vec<String> {
    fn from(proxies: TrustedProxies) -> Self {
        proxies.0.iter().map(ToString::to_string).collect()
    }
}

impl TrustedProxies {
    fn trusts(&self, address: IpAddr) -> bool {
        self.0.iter().any(|range| range.contains(&address))
    }

    /// The client of a request from `peer`: the last address in `X-Forwarded-For` that is not
    /// a trusted proxy when `peer` is one (the client's own claims before it are not believed),
    /// else `peer`.
    pub fn client(&self, peer: IpAddr, headers: &HeaderMap) -> IpAddr {
        if !self.trusts(peer) {
            return peer;
        }
        let forwarded: Vec<IpAddr> = headers
            .get_all("x-forwarded-for")
            .iter()
            .filter_map(|value| value.to_str().ok())
            .flat_map(|value| value.split(','))
            .filter_map(|address| address.trim().parse().ok())
            .collect();
        forwarded.iter().rev().find(|address| !self.trusts(**address)).copied().unwrap_or(peer)
    }
}

/// `Set-Cookie` for a new session: HttpOnly, SameSite=Lax, Secure behind HTTPS.
pub fn session_cookie(secret: &str, max_age: std::time::Duration, secure: bool) -> HeaderValue {
    cookie(secret, max_age.as_secs(), secure)
}

/// `Set-Cookie` that deletes the session cookie.
pub fn cleared_session_cookie(secure: bool) -> HeaderValue {
    cookie("", 0, secure)
}

fn cookie(value: &str, max_age: u64, secure: bool) -> HeaderValue {
    let secure = if secure { "; Secure" } else { "" };
    let text = format!("{SESSION_COOKIE}={value}; Path=/; HttpOnly; SameSite=Lax; Max-Age={max_age}{secure}");
    HeaderValue::from_str(&text).expect("a cookie of URL-safe characters is a valid header")
}

/// Where a request says it comes from, compared with where it arrived.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Origin {
    /// Same scheme-less host as the request, or in the configured allow-list.
    Allowed,
    /// No `Origin` header: not a browser, or a same-origin navigation.
    Absent,
    /// A different site: refuse anything cookie-authenticated.
    Foreign,
}

/// Classifies the request's `Origin` against its `Host` and the `allowed` origins
/// (e.g. `https://app.example.com`).
pub fn origin(headers: &HeaderMap, allowed: &[String]) -> Origin {
    let Some(origin) = headers.get(header::ORIGIN).and_then(|v| v.to_str().ok()) else {
        return Origin::Absent;
    };
    let host = headers.get(header::HOST).and_then(|v| v.to_str().ok());
    let origin_host = origin.split_once("://").map(|(_, rest)| rest);
    if origin_host.is_some() && origin_host == host || allowed.iter().any(|a| a == origin) {
        Origin::Allowed
    } else {
        Origin::Foreign
    }
}

/// The Content-Security-Policy of every response. Pages pass the nonce of their inline
/// hydration script; WebAssembly compilation, onnxruntime-web's workers (`blob:`) and same-origin
/// websockets are allowed, everything else is limited to this origin.
pub fn content_security_policy(nonce: Option<&str>) -> String {
    let script = match nonce {
        Some(nonce) => format!("script-src 'self' 'nonce-{nonce}' 'wasm-unsafe-eval'"),
        None => "script-src 'self' 'wasm-unsafe-eval'".to_owned(),
    };
    format!(
        "default-src 'self'; {script}; style-src 'self' 'unsafe-inline'; img-src 'self' data: blob:; \
         media-src 'self' blob: mediastream:; connect-src 'self'; worker-src 'self' blob:; object-src 'none'; \
         base-uri 'self'; form-action 'self'; frame-ancestors 'none'"
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        pairs
            .iter()
            .map(|(k, v)| (header::HeaderName::from_static(k), HeaderValue::from_str(v).unwrap()))
            .collect()
    }

    #[test]
    fn reads_the_cookie_the_header_and_the_query_token() {
        let from_cookie = credentials(&headers(&[("cookie", "a=1; aic_session=s3cret; b=2")]), None);
        assert_eq!(from_cookie.session.as_deref(), Some("s3cret"));
        assert_eq!(from_cookie.token, None);
        let from_header = credentials(&headers(&[("authorization", "Token aic_x")]), Some("aic_q"));
        assert_eq!(from_header.token.as_deref(), Some("aic_x"));
        assert_eq!(credentials(&HeaderMap::new(), Some("aic_q")).token.as_deref(), Some("aic_q"));
        assert_eq!(credentials(&headers(&[("authorization", "Bearer x")]), None), Credentials::default());
    }

    #[test]
    fn a_client_behind_trusted_proxies_is_the_last_address_they_did_not_add() {
        let proxies = TrustedProxies::try_from(vec!["10.0.0.0/8".into(), " 127.0.0.1 ".into()]).unwrap();
        let ip = |text: &str| text.parse::<IpAddr>().unwrap();
        let chain = headers(&[("x-forwarded-for", "6.6.6.6, 203.0.113.9, 10.1.2.3")]);
        assert_eq!(
            proxies.client(ip("127.0.0.1"), &chain),
            ip("203.0.113.9"),
            "the spoofed first entry is skipped"
        );
        assert_eq!(
            proxies.client(ip("198.51.100.1"), &chain),
            ip("198.51.100.1"),
            "an untrusted peer is itself"
        );
        assert_eq!(proxies.client(ip("10.9.9.9"), &HeaderMap::new()), ip("10.9.9.9"));
        let garbled = headers(&[("x-forwarded-for", "not an address, 203.0.113.9, 10.1.2.3")]);
        assert_eq!(
            proxies.client(ip("127.0.0.1"), &garbled),
            ip("203.0.113.9"),
            "what the client wrote does not hide the address its proxy added"
        );
        let error = TrustedProxies::try_from(vec!["nginx.local".into()]).unwrap_err();
        assert!(error.contains("nginx.local"), "{error}");
    }

    #[test]
    fn classifies_origins() {
        let allowed = vec!["https://app.example".to_owned()];
        let same = headers(&[("host", "127.0.0.1:3000"), ("origin", "http://127.0.0.1:3000")]);
        assert_eq!(origin(&same, &allowed), Origin::Allowed);
        let listed = headers(&[("host", "internal:80"), ("origin", "https://app.example")]);
        assert_eq!(origin(&listed, &allowed), Origin::Allowed);
        let foreign = headers(&[("host", "127.0.0.1:3000"), ("origin", "https://evil.example")]);
        assert_eq!(origin(&foreign, &allowed), Origin::Foreign);
        assert_eq!(origin(&headers(&[("host", "x")]), &allowed), Origin::Absent);
    }

    #[test]
    fn cookies_are_http_only_lax_and_secure_behind_https() {
        let cookie = session_cookie("abc", std::time::Duration::from_secs(60), true);
        let text = cookie.to_str().unwrap();
        assert!(
            text.contains("aic_session=abc") && text.contains("HttpOnly") && text.contains("SameSite=Lax")
        );
        assert!(text.ends_with("; Secure"));
        assert!(!cleared_session_cookie(false).to_str().unwrap().contains("Secure"));
    }
}
