//! `GET /admin/export`: everything the organisation owns as a tar archive,
//! streamed as it is made (`domain::lifecycle::export`; memory stays flat for
//! any size). Allowed whatever the licence says; an audit event.

use std::io;

use actix_web::HttpResponse;
use bytes::Bytes;

use crate::State;
use crate::api::error::ApiResult;
use crate::api::guard::Admin;
use crate::domain::{Actor, lifecycle, now};
use crate::tar::TarSink;

pub(super) fn configure(cfg: &mut actix_web::web::ServiceConfig) {
    cfg.route("/export", actix_web::web::get().to(export));
}

/// Pieces of the archive in flight between the export and the client (each at most 256 KiB).
const IN_FLIGHT: usize = 8;

async fn export(state: State, admin: Admin) -> ApiResult<HttpResponse> {
    let org_id = admin.0.org_id();
    let email = admin.0.email().to_string();
    let (tx, mut rx) = tokio::sync::mpsc::channel::<io::Result<Bytes>>(IN_FLIGHT);
    let at = now();
    let date = time::OffsetDateTime::from_unix_timestamp(at)
        .ok()
        .and_then(|t| t.format(time::macros::format_description!("[year]-[month]-[day]")).ok())
        .unwrap_or_default();
    let folder = format!("kluis-export-{org_id}-{date}");
    let spool = state.config.data_dir.join(format!("export-{}", crate::secrets::random_id()));
    crate::files::create_private_dir(&spool)
        .map_err(|e| crate::api::error::ApiError::internal(format!("cannot create {}: {e}", spool.display())))?;
    let prefix = folder.clone();
    actix_web::rt::spawn(async move {
        let mut sink = TarSink::new(tx.clone(), &prefix, u64::try_from(at).unwrap_or(0));
        let how = "as a tar archive through the admin API".to_string();
        let outcome = lifecycle::export(&state.domain, org_id, Actor::User(&email), &how, &spool, &mut sink).await;
        let ended = match outcome {
            Ok(_) => sink.finish().await.map_err(|e| e.to_string()),
            Err(e) => Err(e.to_string()),
        };
        if let Err(e) = ended {
            // The archive stops without its end marker: the client sees it is incomplete.
            tracing::warn!(organisation = org_id, error = %e, "export failed");
            let _ = tx.send(Err(io::Error::other(e))).await;
        }
        let _ = tokio::fs::remove_dir_all(&spool).await;
    });
    let body = futures_util::stream::poll_fn(move |cx| rx.poll_recv(cx));
    Ok(HttpResponse::Ok()
        .content_type("application/x-tar")
        .insert_header(("Content-Disposition", format!("attachment; filename=\"{folder}.tar\"")))
        .insert_header(("Cache-Control", "no-store"))
        .streaming(body))
}
