//! Webhook delivery, and the policy that keeps webhooks off the server's own networks.
//!
//! A rule's owner chooses the webhook address, so without a check the server would POST to
//! whatever it can reach: its loopback, the private network it runs in, the cloud metadata
//! service. [`WebhookPolicy`] refuses every address that is not public unless the deployment
//! allows it by host name or range. The check runs on the addresses a host name resolves to, at
//! connect time (the client's own resolver), so a name cannot resolve to a public address when
//! the rule is saved and to a private one when the alert goes out; address literals and every
//! redirect are checked too.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use ipnet::IpNet;
use reqwest::Url;
use reqwest::dns::{Addrs, Name, Resolve, Resolving};
use serde::{Deserialize, Serialize};

use crate::protocol::{AlertInfo, WebhookStatus};

/// Webhook attempts per alert.
const ATTEMPTS: u32 = 4;
/// Wait before the first retry; doubled each time.
const BACKOFF: Duration = Duration::from_millis(500);
/// How long one attempt may take.
const TIMEOUT: Duration = Duration::from_secs(10);
/// Redirects followed (each one checked like the first address).
const MAX_REDIRECTS: usize = 5;

/// Which addresses webhooks may reach: every public address, and the non-public hosts and
/// ranges a deployment names (`AIC_WEBHOOK_ALLOW`, e.g. `["hooks.intranet", "10.1.0.0/16"]`).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "Vec<String>", into = "Vec<String>")]
pub struct WebhookPolicy {
    hosts: Vec<String>,
    ranges: Vec<IpNet>,
}

impl TryFrom<Vec<String>> for WebhookPolicy {
    type Error = String;

    fn try_from(entries: Vec<String>) -> Result<Self, Self::Error> {
        let mut policy = Self::default();
        for entry in entries {
            let entry = entry.trim().to_ascii_lowercase();
            if let Ok(range) = entry.parse::<IpNet>() {
                policy.ranges.push(range);
            } else if let Ok(address) = entry.parse::<IpAddr>() {
                policy.ranges.push(IpNet::from(address));
            } else if is_host_name(&entry) {
                policy.hosts.push(entry);
            } else {
                return Err(format!(
                    "`{entry}` is neither a host name, an address nor a range like 10.0.0.0/8"
                ));
            }
        }
        Ok(policy)
    }
}

impl From<WebhookPolicy> for Vec<String> {
    fn from(policy: WebhookPolicy) -> Self {
        policy.hosts.into_iter().chain(policy.ranges.iter().map(IpNet::to_string)).collect()
    }
}

fn is_host_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 253
        && name.split('.').all(|label| {
            !label.is_empty()
                && label.len() <= 63
                && label.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
        })
}

/// Why a webhook address is refused.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    /// The address is not a valid `http(s)://` URL.
    #[error("the webhook is not a valid http:// or https:// address")]
    Malformed,
    /// The host is, or resolves only to, an address that is not public.
    #[error(
        "the webhook's host `{host}` is on a private, loopback or link-local network ({address}); \
         an administrator can allow it with AIC_WEBHOOK_ALLOW"
    )]
    NotPublic {
        /// The host as written.
        host: String,
        /// The refused address.
        address: IpAddr,
    },
}

impl WebhookPolicy {
    /// Whether `host`, at `address`, may be reached.
    pub fn allows(&self, host: &str, address: IpAddr) -> bool {
        is_public(address)
            || self.ranges.iter().any(|range| range.contains(&address))
            || self.hosts.iter().any(|allowed| allowed.eq_ignore_ascii_case(host.trim_end_matches('.')))
    }

    /// Checks a webhook address as its owner saves it: the URL's form, an address literal, and
    /// the addresses a host name resolves to now (all must be allowed). A name that does not
    /// resolve is accepted: DNS may be down, and delivery checks again.
    pub async fn check(&self, url: &str) -> Result<(), Refusal> {
        let url = Url::parse(url).map_err(|_| Refusal::Malformed)?;
        if !matches!(url.scheme(), "http" | "https") {
            return Err(Refusal::Malformed);
        }
        self.check_literal(&url)?;
        let host = url.host_str().ok_or(Refusal::Malformed)?;
        let port = url.port_or_known_default().unwrap_or(80);
        if let Ok(addresses) = tokio::net::lookup_host((host, port)).await {
            for address in addresses {
                if !self.allows(host, address.ip()) {
                    return Err(Refusal::NotPublic { host: host.to_owned(), address: address.ip() });
                }
            }
        }
        Ok(())
    }

    /// Checks a URL whose host is an address literal (no name is resolved for those).
    fn check_literal(&self, url: &Url) -> Result<(), Refusal> {
        let host = url.host_str().ok_or(Refusal::Malformed)?;
        let Ok(address) = host.trim_start_matches('[').trim_end_matches(']').parse::<IpAddr>() else {
            return Ok(());
        };
        if self.allows(host, address) {
            Ok(())
        } else {
            Err(Refusal::NotPublic { host: host.to_owned(), address })
        }
    }

    /// An HTTP client that can only connect where this policy allows: names are resolved by a
    /// resolver that drops refused addresses, redirects are checked hop by hop, and no proxy
    /// from the environment is used (it would connect on the client's behalf, unchecked).
    fn client(&self) -> reqwest::Client {
        let redirects = self.clone();
        reqwest::Client::builder()
            .timeout(TIMEOUT)
            .no_proxy()
            .dns_resolver(Arc::new(GuardedResolver(self.clone())))
            .redirect(reqwest::redirect::Policy::custom(move |attempt| {
                if attempt.previous().len() >= MAX_REDIRECTS {
                    return attempt.error("too many redirects");
                }
                match redirects.check_literal(attempt.url()) {
                    Ok(()) => attempt.follow(),
                    Err(refusal) => attempt.error(refusal),
                }
            }))
            .build()
            .unwrap_or_default()
    }
}

/// Resolves host names with the system resolver and keeps only the addresses the policy allows.
struct GuardedResolver(WebhookPolicy);

impl Resolve for GuardedResolver {
    fn resolve(&self, name: Name) -> Resolving {
        let policy = self.0.clone();
        Box::pin(async move {
            let host = name.as_str().to_owned();
            let resolved: Vec<SocketAddr> = tokio::net::lookup_host((host.as_str(), 0)).await?.collect();
            let Some(first) = resolved.first().copied() else {
                return Err("the host has no address".into());
            };
            let allowed: Vec<SocketAddr> =
                resolved.into_iter().filter(|address| policy.allows(&host, address.ip())).collect();
            if allowed.is_empty() {
                return Err(Box::new(Refusal::NotPublic { host, address: first.ip() }) as _);
            }
            Ok(Box::new(allowed.into_iter()) as Addrs)
        })
    }
}

/// True for addresses on the public internet: not loopback, private, shared (carrier-grade NAT),
/// link-local (cloud metadata lives there), unspecified, multicast, broadcast, documentation or
/// reserved; IPv6 forms that embed an IPv4 address are judged by that address.
pub fn is_public(address: IpAddr) -> bool {
    match address {
        IpAddr::V4(v4) => is_public_v4(v4),
        IpAddr::V6(v6) => {
            if let Some(v4) = embedded_v4(v6) {
                return is_public_v4(v4);
            }
            !(v6.is_loopback()
                || v6.is_unspecified()
                || v6.is_multicast()
                || v6.is_unique_local()
                || v6.is_unicast_link_local()
                || in_v6(v6, 0x2001_0db8, 32))
        }
    }
}

fn is_public_v4(v4: Ipv4Addr) -> bool {
    let [a, b, ..] = v4.octets();
    !(v4.is_loopback()
        || v4.is_private()
        || v4.is_link_local()
        || v4.is_unspecified()
        || v4.is_broadcast()
        || v4.is_multicast()
        || v4.is_documentation()
        || a == 0
        || a >= 240
        || (a == 100 && (64..128).contains(&b))
        || (a == 192 && b == 0 && v4.octets()[2] == 0)
        || (a == 198 && (b == 18 || b == 19)))
}

/// The IPv4 address inside an IPv4-mapped (`::ffff:a.b.c.d`), IPv4-compatible or NAT64
/// (`64:ff9b::a.b.c.d`) IPv6 address.
fn embedded_v4(v6: Ipv6Addr) -> Option<Ipv4Addr> {
    if let Some(v4) = v6.to_ipv4_mapped() {
        return Some(v4);
    }
    let segments = v6.segments();
    let tail = Ipv4Addr::from((u32::from(segments[6]) << 16) | u32::from(segments[7]));
    let nat64 = segments[..6] == [0x64, 0xff9b, 0, 0, 0, 0];
    let compatible = segments[..6] == [0; 6] && !v6.is_loopback() && !v6.is_unspecified();
    (nat64 || compatible).then_some(tail)
}

fn in_v6(v6: Ipv6Addr, prefix: u32, bits: u32) -> bool {
    let high = (u32::from(v6.segments()[0]) << 16) | u32::from(v6.segments()[1]);
    high >> (32 - bits) == prefix >> (32 - bits)
}

/// How one attempt went.
fn status_of(sent: Result<reqwest::Response, reqwest::Error>) -> WebhookStatus {
    match sent {
        Ok(response) if response.status().is_success() => WebhookStatus::Delivered,
        Ok(response) => WebhookStatus::Failed(format!("status {}", response.status().as_u16())),
        Err(e) if e.is_timeout() => WebhookStatus::Failed("timed out".into()),
        Err(e) if refused(&e) => WebhookStatus::Refused,
        Err(_) => WebhookStatus::Failed("cannot connect".into()),
    }
}

/// Whether the policy refused the connection (somewhere in the error's causes).
fn refused(error: &(dyn std::error::Error + 'static)) -> bool {
    let mut cause = Some(error);
    while let Some(error) = cause {
        if error.is::<Refusal>() {
            return true;
        }
        cause = error.source();
    }
    false
}

/// Sends alerts to webhooks within a [`WebhookPolicy`]; cheap to clone.
#[derive(Clone, Debug)]
pub struct Webhooks {
    policy: Arc<WebhookPolicy>,
    client: reqwest::Client,
}

impl Webhooks {
    /// Webhooks that may reach what `policy` allows.
    pub fn new(policy: WebhookPolicy) -> Self {
        Self { client: policy.client(), policy: Arc::new(policy) }
    }

    /// The policy, to check an address as a rule is saved.
    pub fn policy(&self) -> &WebhookPolicy {
        &self.policy
    }

    /// POSTs `alert` as JSON to `url`, retrying failed attempts with back-off; returns how it
    /// ended. Refused addresses are not retried.
    pub async fn deliver(&self, url: &str, alert: &AlertInfo) -> WebhookStatus {
        let Ok(parsed) = Url::parse(url) else { return WebhookStatus::Failed("not a valid address".into()) };
        if self.policy.check_literal(&parsed).is_err() {
            tracing::warn!(alert = %alert.id, "webhook refused: its address is not public");
            return WebhookStatus::Refused;
        }
        let body = serde_json::to_string(alert).unwrap_or_default();
        let mut wait = BACKOFF;
        let mut outcome = WebhookStatus::Pending;
        for attempt in 1..=ATTEMPTS {
            let request = self.client.post(parsed.clone()).header("content-type", "application/json");
            outcome = status_of(request.body(body.clone()).send().await);
            if !matches!(outcome, WebhookStatus::Failed(_)) {
                break;
            }
            tracing::warn!(alert = %alert.id, attempt, "webhook: {outcome}");
            if attempt < ATTEMPTS {
                tokio::time::sleep(wait).await;
                wait *= 2;
            }
        }
        if outcome == WebhookStatus::Refused {
            tracing::warn!(
                alert = %alert.id,
                "webhook refused: its host resolves to an address that is not public"
            );
        }
        outcome
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy(entries: &[&str]) -> WebhookPolicy {
        WebhookPolicy::try_from(entries.iter().map(|e| (*e).to_owned()).collect::<Vec<_>>()).unwrap()
    }

    #[test]
    fn only_public_addresses_are_public() {
        for internal in [
            "127.0.0.1",
            "10.1.2.3",
            "172.16.0.1",
            "192.168.1.1",
            "169.254.169.254",
            "100.64.0.1",
            "0.0.0.0",
            "255.255.255.255",
            "224.0.0.1",
            "::1",
            "::",
            "fd00::1",
            "fe80::1",
            "::ffff:127.0.0.1",
            "::ffff:169.254.169.254",
            "64:ff9b::a9fe:a9fe",
            "::7f00:1",
        ] {
            assert!(!is_public(internal.parse().unwrap()), "{internal} is internal");
        }
        for public in ["93.184.216.34", "1.1.1.1", "2606:4700:4700::1111", "::ffff:8.8.8.8"] {
            assert!(is_public(public.parse().unwrap()), "{public} is public");
        }
    }

    #[test]
    fn a_deployment_allows_named_hosts_and_ranges() {
        let policy = policy(&["hooks.intranet", "10.1.0.0/16", "192.168.5.5"]);
        let private = "10.1.2.3".parse().unwrap();
        assert!(policy.allows("anything", private));
        assert!(!policy.allows("anything", "10.2.0.1".parse().unwrap()));
        assert!(policy.allows("192.168.5.5", "192.168.5.5".parse().unwrap()));
        assert!(policy.allows("HOOKS.intranet.", "172.16.0.9".parse().unwrap()));
        assert!(WebhookPolicy::try_from(vec!["not a host/99".to_owned()]).is_err());
        let listed: Vec<String> = policy.into();
        assert_eq!(listed, ["hooks.intranet", "10.1.0.0/16", "192.168.5.5/32"]);
    }

    #[tokio::test]
    async fn internal_webhooks_are_refused_when_saved() {
        let policy = WebhookPolicy::default();
        for url in
            ["http://127.0.0.1:9/x", "http://[::1]/x", "http://169.254.169.254/latest", "http://localhost/"]
        {
            assert!(matches!(policy.check(url).await, Err(Refusal::NotPublic { .. })), "{url}");
        }
        assert_eq!(policy.check("ftp://example.com").await, Err(Refusal::Malformed));
        assert_eq!(policy.check("https://93.184.216.34/hook").await, Ok(()));
        let intranet = self::policy(&["127.0.0.0/8", "localhost"]);
        assert_eq!(intranet.check("http://127.0.0.1:9/x").await, Ok(()));
        assert_eq!(intranet.check("http://localhost/").await, Ok(()));
    }
}
