//! `/admin/users`: list and search, add, change (name, role, disabled), remove, import from CSV.

use actix_web::{HttpResponse, web};
use kluis_protocol::admin::{
    AdminUser, AdminUserChange, AdminUserList, ImportRefusal, ImportReport, NewAdminUser, Role, UserState,
};
use serde::Deserialize;

use crate::State;
use crate::api::error::{ApiError, ApiResult};
use crate::api::guard::Admin;
use crate::api::rfc3339;
use crate::domain::users::{self, Change};
use crate::store::{self, UserFilter, UserRecord};

/// Largest CSV import body.
const IMPORT_MAX_BYTES: usize = 1 << 20;

pub(super) fn configure(cfg: &mut web::ServiceConfig) {
    cfg.route("/users", web::get().to(list))
        .route("/users", web::post().to(add))
        .service(
            web::resource("/users.csv")
                .app_data(web::PayloadConfig::new(IMPORT_MAX_BYTES))
                .route(web::post().to(import)),
        )
        .route("/users/{id}", web::get().to(get))
        .route("/users/{id}", web::patch().to(change))
        .route("/users/{id}", web::delete().to(remove));
}

pub(super) fn role_of(role: store::Role) -> Role {
    match role {
        store::Role::User => Role::User,
        store::Role::Admin => Role::Admin,
    }
}

fn store_role(role: Role) -> store::Role {
    match role {
        Role::User => store::Role::User,
        Role::Admin => store::Role::Admin,
    }
}

fn view(r: UserRecord) -> AdminUser {
    AdminUser {
        id: r.user.id,
        email: r.user.email,
        name: r.user.name,
        role: role_of(r.user.role),
        state: if r.disabled { UserState::Disabled } else { UserState::Active },
        created_at: rfc3339(r.created_at),
        last_active_at: r.last_active_at.map(rfc3339),
        seat: r.seat,
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ListQuery {
    /// Part of the address or name.
    q: Option<String>,
    /// `active` (default), `disabled` or `all`.
    state: Option<String>,
    after: Option<String>,
    limit: Option<i64>,
}

async fn list(state: State, admin: Admin, query: web::Query<ListQuery>) -> ApiResult<HttpResponse> {
    let q = query.into_inner();
    let filter = match q.state.as_deref() {
        None | Some("active") => UserFilter::Active,
        Some("disabled") => UserFilter::Disabled,
        Some("all") => UserFilter::All,
        Some(_) => return Err(ApiError::bad_request("invalid_query", "state is active, disabled or all.")),
    };
    let (rows, next) = users::list(&state.domain, &admin.0, q.q, filter, q.after, q.limit).await?;
    Ok(HttpResponse::Ok().json(AdminUserList { users: rows.into_iter().map(view).collect(), next }))
}

async fn add(state: State, admin: Admin, body: web::Json<NewAdminUser>) -> ApiResult<HttpResponse> {
    let body = body.into_inner();
    let (user, created) =
        users::add(&state.domain, &admin.0, &body.email, body.name.as_deref(), body.role.map(store_role)).await?;
    let mut response = if created { HttpResponse::Created() } else { HttpResponse::Ok() };
    Ok(response.json(view(user)))
}

async fn get(state: State, admin: Admin, path: web::Path<i64>) -> ApiResult<HttpResponse> {
    Ok(HttpResponse::Ok().json(view(users::get(&state.domain, &admin.0, path.into_inner()).await?)))
}

async fn change(
    state: State,
    admin: Admin,
    path: web::Path<i64>,
    body: web::Json<AdminUserChange>,
) -> ApiResult<HttpResponse> {
    let body = body.into_inner();
    let change = Change {
        name: body.name,
        role: body.role.map(store_role),
        disabled: body.state.map(|s| s == UserState::Disabled),
        seat: body.seat,
    };
    let user = users::change(&state.domain, &admin.0, path.into_inner(), change).await?;
    Ok(HttpResponse::Ok().json(view(user)))
}

async fn remove(state: State, admin: Admin, path: web::Path<i64>) -> ApiResult<HttpResponse> {
    users::remove(&state.domain, &admin.0, path.into_inner()).await?;
    Ok(HttpResponse::NoContent().finish())
}

async fn import(state: State, admin: Admin, body: web::Bytes) -> ApiResult<HttpResponse> {
    let text = std::str::from_utf8(&body)
        .map_err(|_| ApiError::bad_request("invalid_csv", "The file is not UTF-8 text; save it as CSV UTF-8."))?;
    let report = users::import(&state.domain, &admin.0, text).await?;
    Ok(HttpResponse::Ok().json(ImportReport {
        added: report.added,
        updated: report.updated,
        refused: report
            .refused
            .into_iter()
            .map(|r| ImportRefusal { line: r.line, email: r.email, code: r.code.into(), reason: r.reason })
            .collect(),
    }))
}
