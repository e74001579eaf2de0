//! `/admin/audit`: the organisation's audit log, filtered and paged; as CSV
//! for Excel (`/admin/audit.csv`); and whether its hash chain is intact.

use actix_web::{HttpResponse, web};
use kluis_protocol::admin::{AuditCheck, AuditEntry, AuditPage};
use serde::Deserialize;

use super::parse_time;
use crate::State;
use crate::api::error::ApiResult;
use crate::api::guard::Admin;
use crate::api::rfc3339;
use crate::domain::admin::{self, AuditFilter, Language};

pub(super) fn configure(cfg: &mut web::ServiceConfig) {
    cfg.route("/audit", web::get().to(page))
        .route("/audit.csv", web::get().to(export))
        .route("/audit/verify", web::get().to(verify));
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Filter {
    /// Rows by this user (address).
    user: Option<String>,
    /// Rows by this recipient (address).
    recipient: Option<String>,
    package: Option<String>,
    event: Option<String>,
    /// From this date or time (inclusive).
    from: Option<String>,
    /// Up to this date or time (exclusive).
    to: Option<String>,
    before: Option<i64>,
    limit: Option<i64>,
    /// CSV only: `en` (default) or `nl`.
    lang: Option<String>,
}

impl Filter {
    fn domain(&self) -> ApiResult<AuditFilter> {
        Ok(AuditFilter {
            user: self.user.clone(),
            recipient: self.recipient.clone(),
            package: self.package.clone(),
            event: self.event.clone(),
            from: self.from.as_deref().filter(|s| !s.is_empty()).map(|s| parse_time("from", s)).transpose()?,
            to: self.to.as_deref().filter(|s| !s.is_empty()).map(|s| parse_time("to", s)).transpose()?,
        })
    }
}

async fn page(state: State, admin: Admin, query: web::Query<Filter>) -> ApiResult<HttpResponse> {
    let filter = query.domain()?;
    let (rows, next) = admin::audit_page(&state.domain, &admin.0, &filter, query.before, query.limit).await?;
    let entries = rows
        .into_iter()
        .map(|r| AuditEntry {
            id: r.id,
            at: rfc3339(r.at),
            event: r.event,
            actor: r.actor,
            package_id: r.package_id,
            detail: r.detail,
        })
        .collect();
    Ok(HttpResponse::Ok().json(AuditPage { entries, next }))
}

async fn export(state: State, admin: Admin, query: web::Query<Filter>) -> ApiResult<HttpResponse> {
    let filter = query.domain()?;
    let (language, name) = match query.lang.as_deref() {
        Some("nl") => (Language::Dutch, "kluis-auditlog.csv"),
        _ => (Language::English, "kluis-audit-log.csv"),
    };
    let csv = admin::audit_csv(&state.domain, &admin.0, &filter, language).await?;
    Ok(HttpResponse::Ok()
        .content_type("text/csv; charset=utf-8")
        .insert_header(("Content-Disposition", format!("attachment; filename=\"{name}\"")))
        .body(csv))
}

async fn verify(state: State, admin: Admin) -> ApiResult<HttpResponse> {
    let (rows, outcome) = admin::audit_check(&state.domain, &admin.0).await?;
    let check = match outcome {
        Ok(head) => AuditCheck { intact: true, rows, first_break: None, head: head.map(|h| hex::encode(h.hash)) },
        Err(b) => AuditCheck { intact: false, rows, first_break: Some(b.to_string()), head: None },
    };
    Ok(HttpResponse::Ok().json(check))
}
