//! `/admin/policy`: the organisation's policy document, its versions and
//! what each changed (`domain/policy.rs` checks and saves).

use actix_web::{HttpResponse, web};
use kluis_protocol::admin::{AdminPolicy, PolicyChange, PolicySaved, PolicyVersion, PolicyVersions};

use crate::State;
use crate::api::error::ApiResult;
use crate::api::guard::Admin;
use crate::api::rfc3339;
use crate::domain::policy;

pub(super) fn configure(cfg: &mut web::ServiceConfig) {
    cfg.route("/policy", web::get().to(get))
        .route("/policy", web::put().to(put))
        .route("/policy/versions", web::get().to(versions));
}

async fn get(state: State, admin: Admin) -> ApiResult<HttpResponse> {
    let (policy, stored) = policy::for_admin(&state.domain, &admin.0).await?;
    Ok(HttpResponse::Ok().json(AdminPolicy {
        policy,
        saved_at: stored.as_ref().map(|s| rfc3339(s.saved_at)),
        saved_by: stored.map(|s| s.saved_by),
    }))
}

async fn put(state: State, admin: Admin, body: web::Json<PolicyChange>) -> ApiResult<HttpResponse> {
    let change = body.into_inner();
    let (policy, changes) = policy::save(&state.domain, &admin.0, change.version, change.policy).await?;
    Ok(HttpResponse::Ok().json(PolicySaved { policy, changes }))
}

async fn versions(state: State, admin: Admin) -> ApiResult<HttpResponse> {
    let versions = policy::versions(&state.domain, &admin.0)
        .await?
        .into_iter()
        .map(|(s, changes)| PolicyVersion {
            version: s.version,
            saved_at: rfc3339(s.saved_at),
            saved_by: s.saved_by,
            changes,
        })
        .collect();
    Ok(HttpResponse::Ok().json(PolicyVersions { versions }))
}
