//! `/admin/organisation` (name, mail domains and settings) and `/admin/overview` (figures of the month).

use actix_web::{HttpResponse, web};
use kluis_protocol::admin::{OrganisationChange, OrganisationSettings, OrganisationView, Overview, ServerLimits};

use crate::State;
use crate::api::error::ApiResult;
use crate::api::guard::Admin;
use crate::api::rfc3339;
use crate::domain::admin;
use crate::store::{OrgSettings, Organisation};

pub(super) fn configure(cfg: &mut web::ServiceConfig) {
    cfg.route("/organisation", web::get().to(get))
        .route("/organisation", web::put().to(update))
        .route("/overview", web::get().to(overview));
}

fn view(state: &State, o: Organisation) -> OrganisationView {
    let s = o.settings;
    let limits = &state.domain.limits;
    OrganisationView {
        id: o.id,
        name: o.name,
        domains: o.domains,
        created_at: rfc3339(o.created_at),
        settings: OrganisationSettings {
            default_expiry_days: s.default_expiry_days,
            max_expiry_days: s.max_expiry_days,
            audit_retention_days: s.audit_retention_days,
            replies: s.replies,
        },
        server_limits: ServerLimits {
            default_expiry_days: limits.default_expiry_days,
            max_expiry_days: limits.max_expiry_days,
        },
    }
}

async fn get(state: State, admin: Admin) -> ApiResult<HttpResponse> {
    Ok(HttpResponse::Ok().json(view(&state, admin::organisation(&state.domain, &admin.0).await?)))
}

async fn update(state: State, admin: Admin, body: web::Json<OrganisationChange>) -> ApiResult<HttpResponse> {
    let settings = body.settings.map(|s| OrgSettings {
        default_expiry_days: s.default_expiry_days,
        max_expiry_days: s.max_expiry_days,
        audit_retention_days: s.audit_retention_days,
        replies: s.replies,
    });
    let org = admin::update_organisation(&state.domain, &admin.0, &body.name, &body.domains, settings).await?;
    Ok(HttpResponse::Ok().json(view(&state, org)))
}

async fn overview(state: State, admin: Admin) -> ApiResult<HttpResponse> {
    let s = admin::overview(&state.domain, &admin.0).await?;
    let n = |v: i64| v.max(0) as u64;
    Ok(HttpResponse::Ok().json(Overview {
        active_users: n(s.active_users),
        admins: n(s.admins),
        disabled_users: n(s.disabled_users),
        users_active_this_month: n(s.users_active_since),
        packages_this_month: n(s.packages_since),
        bytes_this_month: n(s.bytes_since),
        failed_verifications_this_month: n(s.failed_verifications_since),
        live_packages: n(s.live_packages),
    }))
}
