//! Who an agent is: a bearer token checked by an [`Authenticator`], and the one authorization
//! rule of the controlplane, [`authorize`]: a node reads and reports only its own span.
//!
//! Every authenticator (the standalone token file, [`TokenFile`]; the in-cluster TokenReview
//! one of the kube layer) only maps a token to an [`Identity`]; the rule is applied once, by the
//! server, for all of them (Antrea's `pkg/controller/networkpolicy/store` likewise checks the
//! node name the agent's ServiceAccount token is bound to).

use std::collections::BTreeMap;
use std::future::Future;
use std::path::Path;

/// The identity a token proves: the node the agent runs on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Identity {
    /// Node name.
    pub node: String,
}

/// Why a request was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AuthError {
    /// No `Authorization: Bearer TOKEN` header (HTTP 401).
    #[error("no bearer token: send `Authorization: Bearer TOKEN`")]
    Missing,
    /// The token is unknown, expired or forged (HTTP 401).
    #[error("token refused: {0}")]
    Invalid(String),
    /// The token is valid but names another node than the one asked for (HTTP 403).
    #[error("node {identity:?} may not read or report the span of node {requested:?}")]
    Forbidden {
        /// The node the token is bound to.
        identity: String,
        /// The node of the request path.
        requested: String,
    },
    /// The authenticator could not decide (TokenReview unreachable; HTTP 503).
    #[error("authentication unavailable: {0}")]
    Unavailable(String),
}

impl AuthError {
    /// The HTTP status of the refusal: 401, 403 or 503.
    pub fn status(&self) -> u16 {
        match self {
            AuthError::Missing | AuthError::Invalid(_) => 401,
            AuthError::Forbidden { .. } => 403,
            AuthError::Unavailable(_) => 503,
        }
    }
}

/// Maps a bearer token to the identity it proves.
///
/// Implementations: [`TokenFile`] (standalone), the kube layer's TokenReview authenticator.
/// Implement it with `async fn authenticate(&self, token: &str) -> Result<Identity, AuthError>`.
pub trait Authenticator: Send + Sync + 'static {
    /// The identity `token` proves.
    ///
    /// Errors: [`AuthError::Invalid`] for an unknown, expired or forged token;
    /// [`AuthError::Unavailable`] when it cannot be checked now.
    fn authenticate(&self, token: &str)
        -> impl Future<Output = Result<Identity, AuthError>> + Send;

    /// A receiver that changes each time the credentials are read again (the standalone
    /// `--tokens` file on SIGHUP): the server then checks each open span stream's token again
    /// and ends the streams whose token no longer proves their node. `None` (the default): the
    /// credentials never change while the controller runs.
    fn reloads(&self) -> Option<tokio::sync::watch::Receiver<u64>> {
        None
    }
}

/// The authorization rule, the same for every authenticator: the node of `identity` may read
/// and report only the span of node `requested`.
///
/// Errors: [`AuthError::Forbidden`] naming both nodes.
pub fn authorize(identity: &Identity, requested: &str) -> Result<(), AuthError> {
    if identity.node == requested {
        Ok(())
    } else {
        Err(AuthError::Forbidden {
            identity: identity.node.clone(),
            requested: requested.to_string(),
        })
    }
}

/// Authenticates and authorizes a request for node `requested`'s span carrying the
/// `Authorization` header value `header` (`None` when absent): the one code path of every
/// request.
///
/// Errors: those of [`Authenticator::authenticate`] and [`authorize`]; [`AuthError::Missing`]
/// without a `Bearer` header.
pub async fn check<A: Authenticator>(
    auth: &A,
    header: Option<&str>,
    requested: &str,
) -> Result<Identity, AuthError> {
    let token = header
        .and_then(|h| h.strip_prefix("Bearer "))
        .map(str::trim)
        .filter(|t| !t.is_empty())
        .ok_or(AuthError::Missing)?;
    let identity = auth.authenticate(token).await?;
    authorize(&identity, requested)?;
    Ok(identity)
}

/// The fewest characters a standalone token may have (a short token is guessed).
pub const MIN_TOKEN: usize = 16;

/// The standalone credentials: per-node tokens from a file of lines `NODE TOKEN` (blank lines
/// and `#` comments ignored).
#[derive(Debug, Clone, Default)]
pub struct TokenFile {
    by_token: BTreeMap<String, String>,
}

impl TokenFile {
    /// Parses the text of a token file; `file` names it in errors.
    ///
    /// Errors: every malformed line (not two fields), every token shorter than [`MIN_TOKEN`]
    /// characters and every token given twice, at once, each with its line number; a file
    /// without a token.
    pub fn parse(text: &str, file: &str) -> Result<Self, String> {
        let mut by_token = BTreeMap::new();
        let mut errors = Vec::new();
        for (i, line) in text.lines().enumerate() {
            let line = line.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let fields: Vec<&str> = line.split_whitespace().collect();
            match fields[..] {
                [_, token] if token.chars().count() < MIN_TOKEN => errors.push(format!(
                    "{file}:{}: a token of {} characters; at least {MIN_TOKEN} (e.g. `openssl \
                     rand -hex 16`)",
                    i + 1,
                    token.chars().count()
                )),
                [node, token] => {
                    if by_token
                        .insert(token.to_string(), node.to_string())
                        .is_some()
                    {
                        errors.push(format!("{file}:{}: token given twice", i + 1));
                    }
                }
                _ => errors.push(format!(
                    "{file}:{}: expected `NODE TOKEN`, found {} field(s)",
                    i + 1,
                    fields.len()
                )),
            }
        }
        if errors.is_empty() && by_token.is_empty() {
            errors.push(format!(
                "{file}: no `NODE TOKEN` line: no agent could ever authenticate"
            ));
        }
        if errors.is_empty() {
            Ok(TokenFile { by_token })
        } else {
            Err(errors.join("\n"))
        }
    }

    /// Reads and parses a token file; a file every user may read is logged as a warning.
    ///
    /// Errors: the file cannot be read; see [`TokenFile::parse`].
    pub fn read(path: &Path) -> Result<Self, String> {
        let text = std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
        if let Ok(m) = std::fs::metadata(path) {
            let mode = std::os::unix::fs::PermissionsExt::mode(&m.permissions());
            if mode & 0o004 != 0 {
                tracing::warn!(
                    "{}: readable by every user (mode {:o}): anyone on this host can read \
                     every node's token; chmod 600 it",
                    path.display(),
                    mode & 0o777
                );
            }
        }
        Self::parse(&text, &path.display().to_string())
    }

    /// A token file of these `(node, token)` pairs.
    pub fn from_pairs<'a>(pairs: impl IntoIterator<Item = (&'a str, &'a str)>) -> Self {
        TokenFile {
            by_token: pairs
                .into_iter()
                .map(|(n, t)| (t.to_string(), n.to_string()))
                .collect(),
        }
    }
}

impl Authenticator for TokenFile {
    async fn authenticate(&self, token: &str) -> Result<Identity, AuthError> {
        match self.by_token.get(token) {
            Some(node) => Ok(Identity { node: node.clone() }),
            None => Err(AuthError::Invalid("unknown token".into())),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_node_reads_only_its_own_span() {
        let f = TokenFile::parse(
            "# nodes\nn1 t1-0123456789abcdef\n\nn2 t2-0123456789abcdef\n",
            "tokens",
        )
        .unwrap();
        assert_eq!(
            check(&f, Some("Bearer t1-0123456789abcdef"), "n1").await,
            Ok(Identity { node: "n1".into() })
        );
        let e = check(&f, Some("Bearer t1-0123456789abcdef"), "n2")
            .await
            .unwrap_err();
        assert_eq!(e.status(), 403);
        assert_eq!(
            e.to_string(),
            "node \"n1\" may not read or report the span of node \"n2\""
        );
        assert_eq!(
            check(&f, Some("Bearer forged"), "n1").await.unwrap_err(),
            AuthError::Invalid("unknown token".into())
        );
        assert_eq!(check(&f, None, "n1").await, Err(AuthError::Missing));
        assert_eq!(
            check(&f, Some("Basic t1-0123456789abcdef"), "n1").await,
            Err(AuthError::Missing)
        );
    }

    #[test]
    fn every_bad_line_is_named() {
        let t = "t1-0123456789abcdef";
        let text = format!("n1 {t} extra\nn2 {t}\nn3 {t}\nn4 short-token\n");
        let e = TokenFile::parse(&text, "f").unwrap_err();
        assert_eq!(
            e,
            "f:1: expected `NODE TOKEN`, found 3 field(s)\nf:3: token given twice\nf:4: a \
             token of 11 characters; at least 16 (e.g. `openssl rand -hex 16`)"
        );
        let e = TokenFile::parse("# only a comment\n\n", "f").unwrap_err();
        assert_eq!(
            e,
            "f: no `NODE TOKEN` line: no agent could ever authenticate"
        );
    }
}
