//! Which `Host` and `Origin` values `aurora serve` answers.
//!
//! A web page the user visits can make the browser send requests to the server: either to its
//! address directly (cross-site request forgery, stopped by the `Origin` check and by requiring
//! `Content-Type: application/json`) or under the attacker's own name resolved to the server's
//! address (DNS rebinding, stopped by the `Host` check). The rules:
//!
//! * `Host` must name the server: `127.0.0.1:PORT`, `localhost:PORT` or `[::1]:PORT` on a
//!   loopback bind; the bound `IP:PORT` on any other bind (any IP literal with the port, or
//!   `localhost:PORT`, on an unspecified bind such as `0.0.0.0`); or a name given with
//!   `--allow-host` (with any port).
//! * `Origin`, when present, must be one of the server's own origins (`http` or `https` and an
//!   authority the `Host` rule accepts) or be listed with `--cors-origin`.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

/// The verdict on a request's `Origin` header.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OriginVerdict {
    /// No `Origin` header: not a cross-origin browser request.
    Absent,
    /// A page served under one of the server's own names.
    Own,
    /// An origin listed with `--cors-origin`: answered with CORS headers echoing it.
    Cors(String),
}

/// The accepted host names and origins of one running server.
#[derive(Debug, Clone)]
pub struct Policy {
    bound: SocketAddr,
    extra_hosts: Vec<String>,
    cors_origins: Vec<String>,
}

impl Policy {
    /// The policy of a server bound to `bound` (with its real port), with the extra host names
    /// and CORS origins of its configuration. Entries are checked with [`check_host_name`] and
    /// [`check_origin`] first.
    pub fn new(bound: SocketAddr, extra_hosts: &[String], cors_origins: &[String]) -> Policy {
        Policy {
            bound,
            extra_hosts: extra_hosts.iter().map(|h| h.trim().to_ascii_lowercase()).collect(),
            cors_origins: cors_origins.iter().map(|o| normalize_origin(o)).collect(),
        }
    }

    /// The `Host` values accepted from the bind address, for error messages.
    pub fn describe_hosts(&self) -> String {
        let port = self.bound.port();
        let mut names: Vec<String> = if self.bound.ip().is_loopback() {
            vec![format!("127.0.0.1:{port}"), format!("localhost:{port}"), format!("[::1]:{port}")]
        } else if self.bound.ip().is_unspecified() {
            vec![format!("any IP address:{port}"), format!("localhost:{port}")]
        } else {
            vec![self.bound.to_string()]
        };
        names.extend(self.extra_hosts.iter().cloned());
        names.join(", ")
    }

    /// Checks a `Host` header value (`None`: the header is missing or not text).
    pub fn check_host(&self, host: Option<&str>) -> Result<(), String> {
        let Some(host) = host else {
            return Err(format!(
                "the request has no Host header; this server answers to {} (add names with --allow-host)",
                self.describe_hosts()
            ));
        };
        if self.is_own_authority(host, 80) {
            return Ok(());
        }
        Err(format!(
            "Host {host:?} is not a name of this server, which answers to {} (add names with --allow-host)",
            self.describe_hosts()
        ))
    }

    /// Classifies an `Origin` header value; `Err` carries the refusal message.
    pub fn check_origin(&self, origin: Option<&str>) -> Result<OriginVerdict, String> {
        let Some(origin) = origin else { return Ok(OriginVerdict::Absent) };
        let normalized = normalize_origin(origin);
        if self.cors_origins.contains(&normalized) {
            return Ok(OriginVerdict::Cors(origin.trim().to_string()));
        }
        let own = match normalized.split_once("://") {
            Some(("http", authority)) => self.is_own_authority(authority, 80),
            Some(("https", authority)) => self.is_own_authority(authority, 443),
            _ => false,
        };
        if own {
            return Ok(OriginVerdict::Own);
        }
        Err(format!(
            "requests from the web origin {origin:?} are refused: it is not this server's own origin \
             (list the origins allowed to call the server with --cors-origin)"
        ))
    }

    /// Whether `authority` (`host[:port]`) names this server; `default_port` applies when it
    /// carries no port.
    fn is_own_authority(&self, authority: &str, default_port: u16) -> bool {
        let authority = authority.trim().to_ascii_lowercase();
        let Some((host, port)) = split_authority(&authority, default_port) else {
            return false;
        };
        if self.extra_hosts.iter().any(|h| *h == host || *h == authority) {
            return true;
        }
        if port != self.bound.port() {
            return false;
        }
        let ip = parse_host_ip(host);
        let bound = self.bound.ip();
        if bound.is_loopback() {
            host == "localhost"
                || ip == Some(IpAddr::V4(Ipv4Addr::LOCALHOST))
                || ip == Some(IpAddr::V6(Ipv6Addr::LOCALHOST))
        } else if bound.is_unspecified() {
            host == "localhost" || ip.is_some()
        } else {
            ip == Some(bound)
        }
    }
}

/// Splits `host[:port]` (IPv6 literals in brackets); `None` when the port is not a number.
fn split_authority(authority: &str, default_port: u16) -> Option<(&str, u16)> {
    let (host, port) = match authority.rfind(':') {
        // A colon inside brackets belongs to an IPv6 literal, not to a port.
        Some(i) if !authority[i..].contains(']') => (&authority[..i], Some(&authority[i + 1..])),
        _ => (authority, None),
    };
    let port = match port {
        None => default_port,
        Some(p) => p.parse().ok()?,
    };
    (!host.is_empty()).then_some((host, port))
}

/// The IP address a host part spells (`[::1]` for IPv6), if it is a literal.
fn parse_host_ip(host: &str) -> Option<IpAddr> {
    match host.strip_prefix('[').and_then(|h| h.strip_suffix(']')) {
        Some(v6) => v6.parse::<Ipv6Addr>().ok().map(IpAddr::V6),
        None => host.parse::<Ipv4Addr>().ok().map(IpAddr::V4),
    }
}

/// Lower case without a trailing slash: how origins are compared.
fn normalize_origin(origin: &str) -> String {
    origin.trim().trim_end_matches('/').to_ascii_lowercase()
}

/// Checks an `--allow-host` entry: a host name or IP literal, optionally with a port.
pub fn check_host_name(name: &str) -> Result<(), String> {
    let valid = split_authority(name.trim(), 80).is_some_and(|(host, _)| {
        host.chars().all(|c| c.is_ascii_alphanumeric() || "-.[]:".contains(c)) && !host.starts_with(['-', '.'])
    });
    if valid {
        Ok(())
    } else {
        Err(format!("--allow-host {name:?} is not a host name (expected e.g. `db.example.com` or `db.internal:7070`)"))
    }
}

/// Checks a `--cors-origin` entry: `scheme://host[:port]` without a path, or `null`.
pub fn check_origin(origin: &str) -> Result<(), String> {
    let o = normalize_origin(origin);
    let valid = o == "null"
        || o.split_once("://").is_some_and(|(scheme, authority)| {
            matches!(scheme, "http" | "https") && !authority.contains('/') && split_authority(authority, 80).is_some()
        });
    if valid {
        Ok(())
    } else {
        Err(format!(
            "--cors-origin {origin:?} is not an origin (expected `scheme://host[:port]` with no path, e.g. \
             `https://app.example.com`)"
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy(bind: &str) -> Policy {
        let bound = bind.parse().unwrap_or_else(|_| SocketAddr::from(([127, 0, 0, 1], 1)));
        Policy::new(bound, &["db.example.com".into()], &["https://app.example.com".into()])
    }

    #[test]
    fn hosts_of_a_loopback_bind() {
        let p = policy("127.0.0.1:7070");
        for ok in
            ["127.0.0.1:7070", "localhost:7070", "LOCALHOST:7070", "[::1]:7070", "db.example.com", "db.example.com:443"]
        {
            assert!(p.check_host(Some(ok)).is_ok(), "{ok}");
        }
        for bad in [
            "evil.example:7070",
            "127.0.0.2:7070",
            "127.0.0.1:7071",
            "localhost",
            "[::1]",
            "",
            "127.0.0.1:x",
            "[::1:7070",
        ] {
            assert!(p.check_host(Some(bad)).is_err(), "{bad}");
        }
        assert!(p.check_host(None).is_err());
    }

    #[test]
    fn hosts_of_other_binds() {
        let p = policy("10.1.2.3:80");
        assert!(p.check_host(Some("10.1.2.3")).is_ok() && p.check_host(Some("10.1.2.3:80")).is_ok());
        assert!(p.check_host(Some("localhost:80")).is_err() && p.check_host(Some("10.1.2.4")).is_err());
        let any = policy("0.0.0.0:9000");
        assert!(any.check_host(Some("192.168.1.5:9000")).is_ok() && any.check_host(Some("[fe80::1]:9000")).is_ok());
        assert!(any.check_host(Some("rebound.evil.example:9000")).is_err());
        assert!(any.check_host(Some("192.168.1.5:9001")).is_err());
    }

    #[test]
    fn origins() {
        let p = policy("127.0.0.1:7070");
        assert_eq!(p.check_origin(None), Ok(OriginVerdict::Absent));
        assert_eq!(p.check_origin(Some("http://localhost:7070")), Ok(OriginVerdict::Own));
        assert_eq!(p.check_origin(Some("https://db.example.com")), Ok(OriginVerdict::Own));
        assert_eq!(
            p.check_origin(Some("https://App.example.com")),
            Ok(OriginVerdict::Cors("https://App.example.com".into()))
        );
        for bad in ["http://evil.example", "null", "http://localhost:3000", "https://127.0.0.1", "file://", "x"] {
            assert!(p.check_origin(Some(bad)).is_err(), "{bad}");
        }
    }

    #[test]
    fn configured_entries_are_checked() {
        assert!(check_host_name("db.internal").is_ok() && check_host_name("db.internal:7070").is_ok());
        assert!(check_host_name("").is_err() && check_host_name("a b").is_err() && check_host_name("x:port").is_err());
        assert!(check_origin("https://app.example.com").is_ok() && check_origin("null").is_ok());
        assert!(check_origin("app.example.com").is_err() && check_origin("https://app.example.com/path").is_err());
        assert!(check_origin("ftp://x").is_err());
    }
}
