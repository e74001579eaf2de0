//! `server/openapi.json` and the routes agree: every documented path and
//! method reaches a handler (not the "no such API endpoint" fallback).

use actix_web::test;
use kluis_server::config::Config;

#[actix_web::test]
async fn every_documented_operation_has_a_handler() {
    let dir = tempfile::tempdir().unwrap();
    let config =
        Config { data_dir: dir.path().to_path_buf(), public_url: "http://127.0.0.1:1".into(), ..Config::default() };
    let state = kluis_server::open(config).await.unwrap();
    let app = test::init_service(kluis_server::app(state)).await;

    let spec: serde_json::Value = serde_json::from_str(include_str!("../openapi.json")).unwrap();
    let mut checked = 0;
    for (path, item) in spec["paths"].as_object().unwrap() {
        let uri =
            path.replace("{idx}", "1").replace("/uploads/{id}", "/uploads/x").replace("{id}", "AAAAAAAAAAAAAAAAAAAAAA");
        for method in ["get", "post", "patch", "delete", "head", "options"] {
            if item.get(method).is_none() {
                continue;
            }
            let req = test::TestRequest::default()
                .method(method.to_uppercase().parse().unwrap())
                .uri(&uri)
                .insert_header(("Tus-Resumable", "1.0.0"))
                .to_request();
            let response = test::call_service(&app, req).await;
            let status = response.status();
            let body = test::read_body(response).await;
            let text = String::from_utf8_lossy(&body);
            assert!(!text.contains("No such API endpoint"), "{method} {path} has no handler ({status})");
            assert!(status != 405, "{method} {path} is not allowed");
            checked += 1;
        }
    }
    assert!(checked >= 20, "checked {checked} operations");
}

#[actix_web::test]
async fn undocumented_paths_fall_through_to_a_json_404() {
    let dir = tempfile::tempdir().unwrap();
    let config = Config { data_dir: dir.path().to_path_buf(), ..Config::default() };
    let state = kluis_server::open(config).await.unwrap();
    let app = test::init_service(kluis_server::app(state)).await;
    let response = test::call_service(&app, test::TestRequest::get().uri("/api/v1/nothing-here").to_request()).await;
    assert_eq!(response.status(), 404);
    let body: serde_json::Value = test::read_body_json(response).await;
    assert_eq!(body["error"]["code"], "not_found");
}
