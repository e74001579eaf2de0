//! `/admin/sso`: the organisation's single sign-on (OpenID Connect), which
//! its admins turn on, change and turn off; the client secret goes in, never out.

use actix_web::{HttpResponse, web};
use kluis_protocol::admin::{SsoChange, SsoView};

use crate::State;
use crate::api::error::ApiResult;
use crate::api::guard::Admin;
use crate::domain::admin;
use crate::domain::sso::{SsoConfig, SsoView as Settings};

pub(super) fn configure(cfg: &mut web::ServiceConfig) {
    cfg.route("/sso", web::get().to(get)).route("/sso", web::put().to(update)).route("/sso", web::delete().to(off));
}

fn view(settings: Option<Settings>, redirect_uri: String) -> SsoView {
    match settings {
        Some(s) => SsoView {
            enabled: true,
            issuer: Some(s.issuer),
            client_id: Some(s.client_id),
            secret_set: s.secret_set,
            create_users: s.create_users,
            trust_email: s.trust_email,
            redirect_uri: s.redirect_uri,
        },
        None => SsoView {
            enabled: false,
            issuer: None,
            client_id: None,
            secret_set: false,
            create_users: false,
            trust_email: false,
            redirect_uri,
        },
    }
}

async fn get(state: State, admin: Admin) -> ApiResult<HttpResponse> {
    let (settings, redirect_uri) = admin::sso(&state.domain, &admin.0).await?;
    Ok(HttpResponse::Ok().insert_header(("Cache-Control", "no-store")).json(view(settings, redirect_uri)))
}

async fn update(state: State, admin: Admin, body: web::Json<SsoChange>) -> ApiResult<HttpResponse> {
    let body = body.into_inner();
    let config = SsoConfig {
        issuer: body.issuer,
        client_id: body.client_id,
        client_secret: body.client_secret,
        create_users: body.create_users,
        trust_email: body.trust_email,
    };
    let settings = admin::configure_sso(&state.domain, &admin.0, config).await?;
    let redirect_uri = settings.redirect_uri.clone();
    Ok(HttpResponse::Ok().insert_header(("Cache-Control", "no-store")).json(view(Some(settings), redirect_uri)))
}

async fn off(state: State, admin: Admin) -> ApiResult<HttpResponse> {
    admin::turn_off_sso(&state.domain, &admin.0).await?;
    Ok(HttpResponse::NoContent().finish())
}
