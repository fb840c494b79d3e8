//! Where a request's tenant comes from: the [`AuditLayer`](super::AuditLayer)'s tenant policy,
//! checked once when the layer is built ([`AuditLayerError`]) and applied to every request
//! ([`TenantRefusal`]).

use std::collections::BTreeSet;
use std::fmt;
use std::sync::Arc;

use ::http::HeaderName;

use super::RequestHead;
use crate::receipt::{TenantId, TenantIdError};

/// Why a request's tenant was refused: the request gets a 4xx, the handler is not called, and
/// the admin tenant gets one `reject` receipt with reason codes `tenant_refused` and
/// [`TenantRefusal::reason_code`].
///
/// A [`tenant_fn`](super::AuditLayerBuilder::tenant_fn) resolver returns one to refuse a
/// request itself. The messages never repeat the offered tenant.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum TenantRefusal {
    /// The request names no tenant (400, `tenant_missing`).
    #[error("the request names no tenant")]
    Missing,
    /// The tenant header is repeated or not UTF-8 text (400, `tenant_invalid`).
    #[error("the request's tenant header must appear once, as UTF-8 text")]
    Malformed,
    /// The named tenant is not a valid tenant id (400, `tenant_invalid`).
    #[error("the request's tenant is not a valid tenant id")]
    Invalid(#[source] TenantIdError),
    /// The named tenant is not one the service serves (403, `tenant_not_allowed`).
    #[error("the request's tenant is not served here")]
    NotAllowed,
}

impl TenantRefusal {
    /// The reason code the refusal receipt carries after `tenant_refused`: `tenant_missing`,
    /// `tenant_invalid` or `tenant_not_allowed`.
    #[must_use]
    pub fn reason_code(&self) -> &'static str {
        match self {
            Self::Missing => "tenant_missing",
            Self::Malformed | Self::Invalid(_) => "tenant_invalid",
            Self::NotAllowed => "tenant_not_allowed",
        }
    }

    /// The HTTP status the client gets: 400 for a missing, malformed or invalid tenant, 403 for
    /// a tenant the service does not serve.
    #[must_use]
    pub fn status_code(&self) -> u16 {
        match self {
            Self::Missing | Self::Malformed | Self::Invalid(_) => 400,
            Self::NotAllowed => 403,
        }
    }
}

impl From<TenantIdError> for TenantRefusal {
    fn from(e: TenantIdError) -> Self {
        Self::Invalid(e)
    }
}

/// Why an [`AuditLayerBuilder`](super::AuditLayerBuilder) cannot build a layer: its tenants
/// would not come from something the service trusts.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum AuditLayerError {
    /// Neither a tenant header (with an allow-list), a resolver nor a single tenant is set.
    #[error(
        "the audit layer has no source of tenants; use .tenant_header(\"x-tenant-id\") with .allowed_tenants([...]), .tenant_fn(...), or .default_tenant(...) for a single-tenant service"
    )]
    NoTenantSource,
    /// A tenant header is set without an allow-list: any client could name any tenant.
    #[error(
        "the tenant header {header} has no allow-list, so any client could create a tenant; add .allowed_tenants([...]) or resolve tenants with .tenant_fn(...)"
    )]
    HeaderWithoutAllowList {
        /// The header's name.
        header: String,
    },
    /// Both a tenant header and a resolver are set.
    #[error(
        "both .tenant_header(...) and .tenant_fn(...) are set; keep one (a resolver can read the header with RequestHead::header)"
    )]
    HeaderAndResolver,
    /// A default tenant is set next to a resolver, which alone decides.
    #[error(
        "a .default_tenant(...) does not apply with .tenant_fn(...); return the default from the resolver"
    )]
    DefaultWithResolver,
    /// The tenant header's name is not a valid HTTP header name.
    #[error("{header:?} is not a valid HTTP header name")]
    InvalidHeaderName {
        /// The name as given.
        header: String,
    },
    /// The allow-list is empty: every request would be refused.
    #[error("the allow-list is empty, so every request would be refused; name at least one tenant")]
    EmptyAllowList,
    /// A configured tenant (allowed, default or admin) is not a valid tenant id.
    #[error("the configured tenant {tenant:?} is not a valid tenant id")]
    InvalidTenant {
        /// The tenant as configured.
        tenant: String,
        /// What is wrong with it.
        #[source]
        source: TenantIdError,
    },
    /// The admin tenant is among the tenants served: clients could write into the chain that
    /// records admin access and refusals.
    #[error(
        "the admin tenant {tenant:?} cannot be served to clients (it records admin access and refused requests); remove it from the allowed or default tenants"
    )]
    AdminTenantServed {
        /// The admin tenant.
        tenant: String,
    },
    /// The default tenant is not in the allow-list.
    #[error(
        "the default tenant {tenant:?} is not in the allow-list; add it to .allowed_tenants(...)"
    )]
    DefaultNotAllowed {
        /// The default tenant.
        tenant: String,
    },
}

/// A resolver: a request's head to its tenant, or a refusal.
pub(super) type TenantFn =
    dyn Fn(&RequestHead<'_>) -> Result<TenantId, TenantRefusal> + Send + Sync;

/// The settings a policy is built from, as the builder collected them.
#[derive(Clone, Default)]
pub(super) struct TenantSettings {
    pub(super) header: Option<String>,
    pub(super) resolver: Option<Arc<TenantFn>>,
    pub(super) default: Option<TenantId>,
    pub(super) allowed: Option<Vec<TenantId>>,
}

impl fmt::Debug for TenantSettings {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TenantSettings")
            .field("header", &self.header)
            .field("resolver", &self.resolver.as_ref().map(|_| "<fn>"))
            .field("default", &self.default)
            .field("allowed", &self.allowed)
            .finish()
    }
}

enum Source {
    Header {
        name: HeaderName,
        default: Option<TenantId>,
    },
    Resolver(Arc<TenantFn>),
    Single(TenantId),
}

/// The checked policy a layer applies to each request.
pub(super) struct TenantPolicy {
    source: Source,
    allowed: Option<BTreeSet<TenantId>>,
    /// Never served: its chain records admin access and refusals.
    admin: TenantId,
}

/// A refused request: why, and the text it offered as its tenant (hashed into the refusal
/// receipt, never stored as it is).
pub(super) struct Refused {
    pub(super) refusal: TenantRefusal,
    pub(super) offered: String,
}

/// A configured tenant, checked as a client's would be.
pub(super) fn checked(tenant: &TenantId) -> Result<TenantId, AuditLayerError> {
    TenantId::parse(tenant.as_str()).map_err(|source| AuditLayerError::InvalidTenant {
        tenant: tenant.as_str().chars().take(TenantId::MAX_LEN).collect(),
        source,
    })
}

impl TenantPolicy {
    pub(super) fn new(s: TenantSettings, admin: TenantId) -> Result<Self, AuditLayerError> {
        let served = s.allowed.iter().flatten().chain(&s.default);
        if served.into_iter().any(|t| *t == admin) {
            return Err(AuditLayerError::AdminTenantServed {
                tenant: admin.into_string(),
            });
        }
        let allowed = match s.allowed {
            None => None,
            Some(list) if list.is_empty() => return Err(AuditLayerError::EmptyAllowList),
            Some(list) => Some(
                list.iter()
                    .map(checked)
                    .collect::<Result<BTreeSet<_>, _>>()?,
            ),
        };
        let default = s.default.as_ref().map(checked).transpose()?;
        if let (Some(d), Some(list)) = (&default, &allowed)
            && !list.contains(d)
        {
            return Err(AuditLayerError::DefaultNotAllowed {
                tenant: d.as_str().to_owned(),
            });
        }
        let source = match (s.header, s.resolver, default) {
            (Some(_), Some(_), _) => return Err(AuditLayerError::HeaderAndResolver),
            (None, Some(_), Some(_)) => return Err(AuditLayerError::DefaultWithResolver),
            (Some(header), None, default) => {
                if allowed.is_none() {
                    return Err(AuditLayerError::HeaderWithoutAllowList { header });
                }
                let name = HeaderName::from_bytes(header.as_bytes())
                    .map_err(|_| AuditLayerError::InvalidHeaderName { header })?;
                Source::Header { name, default }
            }
            (None, Some(f), None) => Source::Resolver(f),
            (None, None, Some(d)) => Source::Single(d),
            (None, None, None) => return Err(AuditLayerError::NoTenantSource),
        };
        Ok(Self {
            source,
            allowed,
            admin,
        })
    }

    /// The request's tenant, checked against the allow-list.
    pub(super) fn resolve(&self, head: &RequestHead<'_>) -> Result<TenantId, Refused> {
        let refuse = |refusal, offered: &str| Refused {
            refusal,
            offered: offered.to_owned(),
        };
        let candidate = match &self.source {
            Source::Single(t) => return Ok(t.clone()),
            Source::Resolver(f) => f(head).map_err(|r| refuse(r, ""))?,
            Source::Header { name, default } => {
                let mut values = head.parts.headers.get_all(name).iter();
                match (values.next(), values.next()) {
                    (None, _) => match default {
                        Some(d) => return Ok(d.clone()),
                        None => return Err(refuse(TenantRefusal::Missing, "")),
                    },
                    (Some(v), None) => match std::str::from_utf8(v.as_bytes()) {
                        Ok(text) => TenantId::parse(text).map_err(|e| refuse(e.into(), text))?,
                        Err(_) => {
                            let text = String::from_utf8_lossy(v.as_bytes());
                            return Err(refuse(TenantRefusal::Malformed, &text));
                        }
                    },
                    (Some(v), Some(_)) => {
                        let text = String::from_utf8_lossy(v.as_bytes());
                        return Err(refuse(TenantRefusal::Malformed, &text));
                    }
                }
            }
        };
        // A resolver's answer is checked like a header's: it may carry text from the request.
        let tenant = TenantId::parse(candidate.as_str())
            .map_err(|e| refuse(e.into(), candidate.as_str()))?;
        match &self.allowed {
            _ if tenant == self.admin => Err(refuse(TenantRefusal::NotAllowed, tenant.as_str())),
            Some(list) if !list.contains(&tenant) => {
                Err(refuse(TenantRefusal::NotAllowed, tenant.as_str()))
            }
            _ => Ok(tenant),
        }
    }

    /// The header clients name their tenant in, if that is the source.
    pub(super) fn header(&self) -> Option<&str> {
        match &self.source {
            Source::Header { name, .. } => Some(name.as_str()),
            Source::Resolver(_) | Source::Single(_) => None,
        }
    }
}

impl fmt::Debug for TenantPolicy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let source = match &self.source {
            Source::Header { name, default } => format!("header {name} (default {default:?})"),
            Source::Resolver(_) => "resolver".to_owned(),
            Source::Single(t) => format!("single tenant {t}"),
        };
        f.debug_struct("TenantPolicy")
            .field("source", &source)
            .field("allowed", &self.allowed)
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refusals_map_to_400_or_403_and_their_reason_codes() {
        let cases = [
            (TenantRefusal::Missing, 400, "tenant_missing"),
            (TenantRefusal::Malformed, 400, "tenant_invalid"),
            (
                TenantRefusal::Invalid(TenantIdError::Empty),
                400,
                "tenant_invalid",
            ),
            (TenantRefusal::NotAllowed, 403, "tenant_not_allowed"),
        ];
        for (refusal, status, code) in cases {
            assert_eq!(refusal.status_code(), status, "{refusal:?}");
            assert_eq!(refusal.reason_code(), code, "{refusal:?}");
        }
    }

    fn head_with(headers: &[(&str, &str)]) -> ::http::request::Parts {
        let mut b = ::http::Request::get("/x");
        for (k, v) in headers {
            b = b.header(*k, *v);
        }
        b.body(()).unwrap().into_parts().0
    }

    fn header_policy(default: Option<&str>) -> TenantPolicy {
        TenantPolicy::new(
            TenantSettings {
                header: Some("x-tenant-id".into()),
                allowed: Some(vec!["acme".into(), "bank-eu".into()]),
                default: default.map(TenantId::new),
                ..TenantSettings::default()
            },
            admin(),
        )
        .unwrap()
    }

    fn admin() -> TenantId {
        TenantId::new(super::super::ADMIN_TENANT)
    }

    #[test]
    fn a_header_policy_serves_only_allowed_tenants_and_keeps_what_was_offered() {
        let policy = header_policy(None);
        let resolve = |h: &[(&str, &str)]| {
            let parts = head_with(h);
            policy
                .resolve(&RequestHead { parts: &parts })
                .map_err(|r| (r.refusal, r.offered))
        };
        assert_eq!(
            resolve(&[("x-tenant-id", "acme")]),
            Ok(TenantId::new("acme"))
        );
        assert_eq!(
            resolve(&[("x-tenant-id", "nobody")]),
            Err((TenantRefusal::NotAllowed, "nobody".into()))
        );
        assert_eq!(resolve(&[]), Err((TenantRefusal::Missing, String::new())));
        assert_eq!(
            resolve(&[("x-tenant-id", "")]),
            Err((TenantRefusal::Invalid(TenantIdError::Empty), String::new()))
        );
        let parts = head_with(&[]);
        assert_eq!(
            header_policy(Some("bank-eu"))
                .resolve(&RequestHead { parts: &parts })
                .ok(),
            Some(TenantId::new("bank-eu"))
        );
    }

    #[test]
    fn a_resolvers_answer_is_checked_like_a_header() {
        let policy = TenantPolicy::new(
            TenantSettings {
                resolver: Some(Arc::new(|head: &RequestHead<'_>| {
                    Ok(TenantId::new(head.header("x-org").unwrap_or("")))
                })),
                ..TenantSettings::default()
            },
            admin(),
        )
        .unwrap();
        let parts = head_with(&[("x-org", "anything-goes")]);
        assert_eq!(
            policy.resolve(&RequestHead { parts: &parts }).ok(),
            Some(TenantId::new("anything-goes")),
            "without an allow-list the resolver decides"
        );
        let parts = head_with(&[]);
        let refused = policy
            .resolve(&RequestHead { parts: &parts })
            .err()
            .unwrap();
        assert_eq!(
            refused.refusal,
            TenantRefusal::Invalid(TenantIdError::Empty)
        );
        let parts = head_with(&[("x-org", super::super::ADMIN_TENANT)]);
        let refused = policy.resolve(&RequestHead { parts: &parts }).err();
        assert_eq!(
            refused.map(|r| r.refusal),
            Some(TenantRefusal::NotAllowed),
            "no resolver can put a client into the admin chain"
        );
    }

    #[test]
    fn a_layer_that_would_serve_the_admin_tenant_does_not_build() {
        for settings in [
            TenantSettings {
                header: Some("x-tenant-id".into()),
                allowed: Some(vec!["acme".into(), admin()]),
                ..TenantSettings::default()
            },
            TenantSettings {
                default: Some(admin()),
                ..TenantSettings::default()
            },
        ] {
            assert!(matches!(
                TenantPolicy::new(settings, admin()),
                Err(AuditLayerError::AdminTenantServed { .. })
            ));
        }
    }
}
