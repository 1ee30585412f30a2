//! Accepting connections and turning hyper requests into [`Incoming`] ones.

use std::convert::Infallible;
use std::future::Future;
use std::sync::Arc;

use bytes::Bytes;
use http::{Request, Response, StatusCode};
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming as HyperBody;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;

use crate::{Api, ApiError, App, ErrorKind, Incoming, MAX_BODY};

/// Past this, an oversized body is no longer drained before the 413 and the connection just closes.
const DRAIN_CAP: usize = 64 * 1024 * 1024;

enum Body {
    Complete(Bytes),
    TooLarge,
    Broken,
}

/// Reads the body up to [`MAX_BODY`]. An oversized body is read on and discarded (up to [`DRAIN_CAP`])
/// so the client, still sending, receives the 413 instead of a connection reset.
async fn read_body(mut body: HyperBody, declared: Option<usize>) -> Body {
    let mut buf = Vec::with_capacity(declared.unwrap_or(0).min(MAX_BODY));
    let mut seen = declared.filter(|n| *n > MAX_BODY).map(|_| MAX_BODY + 1).unwrap_or(0);
    while let Some(frame) = body.frame().await {
        let Ok(frame) = frame else { return Body::Broken };
        if let Some(data) = frame.data_ref() {
            seen += data.len();
            if seen <= MAX_BODY {
                buf.extend_from_slice(data);
            } else if seen > DRAIN_CAP {
                break;
            }
        }
    }
    if seen > MAX_BODY {
        Body::TooLarge
    } else {
        Body::Complete(Bytes::from(buf))
    }
}

async fn handle(
    app: Arc<App>,
    peer: std::net::SocketAddr,
    req: Request<HyperBody>,
) -> Result<Response<Full<Bytes>>, Infallible> {
    let (parts, body) = req.into_parts();
    let declared = parts
        .headers
        .get("content-length")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<usize>().ok());
    let resp = match read_body(body, declared).await {
        Body::Complete(bytes) => {
            let incoming = Incoming {
                method: parts.method,
                path: parts.uri.path().to_owned(),
                query: parts.uri.query().unwrap_or_default().to_owned(),
                headers: parts.headers,
                body: bytes,
                peer,
            };
            app.handle(incoming).await
        }
        Body::TooLarge => {
            let e = ApiError::new(ErrorKind::PayloadTooLarge, "Request Entity Too Large");
            crate::render(Api::DynamoDb, Err(e), "")
        }
        Body::Broken => {
            let mut r = Response::new(Bytes::new());
            *r.status_mut() = StatusCode::BAD_REQUEST;
            r
        }
    };
    let (parts, body) = resp.into_parts();
    Ok(Response::from_parts(parts, Full::new(body)))
}

/// How long a shutdown waits for requests in flight to finish.
const DRAIN: std::time::Duration = std::time::Duration::from_secs(10);

/// Serves `app` on `listener` until `shutdown` resolves, then stops accepting, lets every request in flight finish (up to
/// [`DRAIN`]) and closes idle keep-alive connections. At most `app.limits.max_connections` connections are
/// served at once: past that the server accepts no more until one closes, and new clients wait in the
/// listen backlog (backpressure, not refusal).
pub async fn serve(listener: TcpListener, app: Arc<App>, shutdown: impl Future<Output = ()>) {
    tokio::pin!(shutdown);
    let graceful = hyper_util::server::graceful::GracefulShutdown::new();
    let slots = Arc::new(tokio::sync::Semaphore::new(app.limits.max_connections.max(1)));
    loop {
        let slot = tokio::select! {
            _ = &mut shutdown => break,
            slot = slots.clone().acquire_owned() => match slot {
                Ok(slot) => slot,
                Err(_) => break,
            },
        };
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
                let open = app.metrics.connection_opened();
                let app = app.clone();
                let svc = service_fn(move |req| handle(app.clone(), peer, req));
                let conn = hyper::server::conn::http1::Builder::new()
                    .keep_alive(true)
                    .serve_connection(TokioIo::new(stream), svc);
                let conn = graceful.watch(conn);
                tokio::spawn(async move {
                    if let Err(e) = conn.await {
                        tracing::debug!(error = %e, "connection ended with an error");
                    }
                    // Uncounted before the slot frees, so the gauge never shows more than the bound.
                    drop(open);
                    drop(slot);
                });
            }
        }
    }
    drop(listener);
    tokio::select! {
        _ = graceful.shutdown() => tracing::info!("requests in flight finished"),
        _ = tokio::time::sleep(DRAIN) => tracing::warn!("requests still in flight after {DRAIN:?}; stopping anyway"),
    }
}
