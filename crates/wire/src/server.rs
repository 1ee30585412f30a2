//! Accepting connections and turning hyper requests into [`Incoming`] ones.

use std::convert::Infallible;
use std::future::Future;
use std::sync::Arc;

use bytes::Bytes;
use http::{Request, Response, StatusCode};
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Incoming as HyperBody;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;

use crate::{Api, ApiError, App, ErrorKind, Incoming, MAX_BODY};

async fn handle(
    app: Arc<App>,
    peer: std::net::SocketAddr,
    req: Request<HyperBody>,
) -> Result<Response<Full<Bytes>>, Infallible> {
    let (parts, body) = req.into_parts();
    let too_large = || {
        let e = ApiError::new(ErrorKind::PayloadTooLarge, "Request Entity Too Large");
        crate::render(Api::DynamoDb, Err(e), "")
    };
    let declared = parts
        .headers
        .get("content-length")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<usize>().ok());
    let resp = if declared.is_some_and(|n| n > MAX_BODY) {
        too_large()
    } else {
        match Limited::new(body, MAX_BODY).collect().await {
            Ok(collected) => {
                let incoming = Incoming {
                    method: parts.method,
                    path: parts.uri.path().to_owned(),
                    query: parts.uri.query().unwrap_or_default().to_owned(),
                    headers: parts.headers,
                    body: collected.to_bytes(),
                    peer,
                };
                app.handle(incoming).await
            }
            Err(e) if e.is::<http_body_util::LengthLimitError>() => too_large(),
            Err(_) => {
                let mut r = Response::new(Bytes::new());
                *r.status_mut() = StatusCode::BAD_REQUEST;
                r
            }
        }
    };
    let (parts, body) = resp.into_parts();
    Ok(Response::from_parts(parts, Full::new(body)))
}

/// Serves `app` on `listener` until `shutdown` resolves.
pub async fn serve(listener: TcpListener, app: Arc<App>, shutdown: impl Future<Output = ()>) {
    tokio::pin!(shutdown);
    loop {
        tokio::select! {
            _ = &mut shutdown => break,
            accepted = listener.accept() => {
                let (stream, peer) = match accepted {
                    Ok(v) => v,
                    Err(e) => {
                        tracing::warn!(error = %e, "accept failed");
                        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                        continue;
                    }
                };
                let _ = stream.set_nodelay(true);
                let app = app.clone();
                tokio::spawn(async move {
                    let svc = service_fn(move |req| handle(app.clone(), peer, req));
                    if let Err(e) = hyper::server::conn::http1::Builder::new().keep_alive(true).serve_connection(TokioIo::new(stream), svc).await {
                        tracing::debug!(error = %e, "connection ended with an error");
                    }
                });
            }
        }
    }
}
