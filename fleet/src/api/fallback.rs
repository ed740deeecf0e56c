//! Answers for requests no route serves. A request for an operation of the
//! AWS IoT control plane that jobhost-fleet does not implement gets, once
//! authenticated like any management request, a 400 with an exception the
//! operation's model allows and a message naming the operation
//! ([`iot_model`]); an AWS SDK then raises "invalid request: not
//! implemented" instead of reading a 404 as "the job does not exist".
//! Anything else keeps its 404 (no such path) or 405 (a path of ours, with
//! another method).

use super::auth::authenticate;
use super::{iot_model, ApiError, ApiState};
use axum::extract::{Request, State};
use axum::http::Method;
use axum::response::{IntoResponse, Response};

/// The fallback for paths no route matches.
pub(super) async fn no_route(State(state): State<ApiState>, request: Request) -> Response {
    answer(&state, request, |method, path| {
        ApiError::NotFound(format!("no such route: {method} {path}"))
    })
    .await
}

/// The fallback for a path of ours with a method it does not serve.
pub(super) async fn method_not_allowed(
    State(state): State<ApiState>,
    request: Request,
) -> Response {
    answer(&state, request, |method, path| {
        ApiError::MethodNotAllowed(format!("{method} is not allowed on {path}"))
    })
    .await
}

/// For an AWS operation not implemented here, after the authentication
/// every management request needs, the refusal naming it; for anything
/// else, `otherwise(method, path)`.
async fn answer(
    state: &ApiState,
    request: Request,
    otherwise: impl FnOnce(&Method, &str) -> ApiError,
) -> Response {
    let Some(op) = iot_model::find(
        request.method().as_str(),
        request.uri().path(),
        request.uri().query(),
    ) else {
        return otherwise(request.method(), request.uri().path()).into_response();
    };
    let error = match authenticate(state, request).await {
        Ok(_) => ApiError::NotImplemented {
            operation: op.name,
            method: op.method,
            uri: op.uri,
            exception: op.exception,
        },
        Err(e) => e,
    };
    error.into_response()
}
