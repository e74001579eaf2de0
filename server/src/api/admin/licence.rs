//! `/admin/licence`: the organisation's licence and seats; an admin installs
//! the licence the vendor sent (`domain/licences.rs` decides everything).

use actix_web::{HttpResponse, web};
use kluis_licence::Feature;
use kluis_protocol::admin::{LicenceDetails, LicenceInstall, LicenceView};

use crate::State;
use crate::api::error::ApiResult;
use crate::api::guard::Admin;
use crate::api::rfc3339;
use crate::domain::Actor;
use crate::domain::licences::{self, LicenceState, Standing};

pub(super) fn configure(cfg: &mut web::ServiceConfig) {
    cfg.route("/licence", web::get().to(get)).route("/licence", web::put().to(install));
}

pub(super) fn view(state: &State, now: LicenceState) -> LicenceView {
    let grace_days = state.domain.licence.grace_days;
    let (kind, days_left) = now.summary();
    let (features, licence) = match now.standing {
        Standing::Evaluation => (Feature::ALL.iter().map(|f| f.name().to_string()).collect(), None),
        Standing::Licensed { licence, installed, .. } => {
            let details = LicenceDetails {
                id: licence.id.clone(),
                licensee: licence.licensee.clone(),
                domains: licence.domains.clone(),
                valid_from: licence.valid_from.clone(),
                valid_until: licence.valid_until.clone(),
                grace_days,
                installed_at: rfc3339(installed.installed_at),
                installed_by: installed.installed_by,
            };
            (licence.features.clone(), Some(details))
        }
    };
    LicenceView {
        state: kind.to_string(),
        days_left,
        seats_used: now.seats_used.max(0) as u64,
        seats_total: now.seats_total,
        features,
        licence,
    }
}

async fn get(state: State, admin: Admin) -> ApiResult<HttpResponse> {
    let now = licences::state(&state.domain, admin.0.org_id()).await?;
    Ok(HttpResponse::Ok().json(view(&state, now)))
}

async fn install(state: State, admin: Admin, body: web::Json<LicenceInstall>) -> ApiResult<HttpResponse> {
    let now = licences::install(&state.domain, admin.0.org_id(), &body.text, Actor::User(admin.0.email())).await?;
    Ok(HttpResponse::Ok().json(view(&state, now)))
}
