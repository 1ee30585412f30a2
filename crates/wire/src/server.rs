//! Accepting connections and turning hyper requests into [`Incoming`] ones.

use std::convert::Infallible;
use std::future::Future;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http::{Request, Response, StatusCode};
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming as HyperBody;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use hyper_util::server::graceful::GracefulConnection;
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

/// A connection's requests in flight and when it last finished one: a keep-alive connection with none
/// in flight for the idle timeout is closed, so idle clients do not hold `--max-connections` slots forever.
struct Activity {
    in_flight: AtomicUsize,
    since: Mutex<Instant>,
}

impl Activity {
    fn new() -> Arc<Activity> {
        Arc::new(Activity {
            in_flight: AtomicUsize::new(0),
            since: Mutex::new(Instant::now()),
        })
    }

    fn begin(self: &Arc<Self>) -> InFlight {
        self.in_flight.fetch_add(1, Ordering::AcqRel);
        InFlight(self.clone())
    }

    /// When the connection will have been idle for `timeout`, if nothing happens meanwhile; `None` while
    /// a request is in flight.
    fn idle_deadline(&self, timeout: Duration) -> Option<Instant> {
        if self.in_flight.load(Ordering::Acquire) > 0 {
            return None;
        }
        Some(*self.since.lock().unwrap_or_else(|p| p.into_inner()) + timeout)
    }
}

/// One request in flight on a connection; dropping it (the response is ready) restarts the idle clock.
struct InFlight(Arc<Activity>);

impl Drop for InFlight {
    fn drop(&mut self) {
        *self.0.since.lock().unwrap_or_else(|p| p.into_inner()) = Instant::now();
        self.0.in_flight.fetch_sub(1, Ordering::AcqRel);
    }
}

/// Runs one connection to its end: closed gracefully (the request in flight, if any, finishes first) when
/// the server stops or when it has been idle for `idle`.
async fn drive<C: GracefulConnection>(
    conn: C,
    activity: &Activity,
    idle: Duration,
    mut stop: tokio::sync::watch::Receiver<bool>,
) -> Result<(), C::Error> {
    tokio::pin!(conn);
    let mut closing = false;
    loop {
        // Re-checked at least this often while a request is in flight, when the idle clock is stopped.
        let wake = activity
            .idle_deadline(idle)
            .unwrap_or_else(|| Instant::now() + idle.min(Duration::from_secs(1)));
        tokio::select! {
            done = conn.as_mut() => return done,
            _ = stop.changed(), if !closing => {
                conn.as_mut().graceful_shutdown();
                closing = true;
            }
            _ = tokio::time::sleep_until(wake.into()), if !closing => {
                if activity.idle_deadline(idle).is_some_and(|d| d <= Instant::now()) {
                    conn.as_mut().graceful_shutdown();
                    closing = true;
                }
            }
        }
    }
}

/// Serves `app` on `listener` until `shutdown` resolves, then stops accepting, lets every request in flight
/// finish (up to [`DRAIN`]) and closes idle keep-alive connections. At most `app.limits.max_connections`
/// connections are served at once: past that the server accepts no more until one closes, and new clients
/// wait in the listen backlog (backpressure, not refusal). A connection idle for
/// `app.limits.idle_connection_timeout` is closed.
pub async fn serve(listener: TcpListener, app: Arc<App>, shutdown: impl Future<Output = ()>) {
    tokio::pin!(shutdown);
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let max = app.limits.max_connections.clamp(1, tokio::sync::Semaphore::MAX_PERMITS);
    let slots = Arc::new(tokio::sync::Semaphore::new(max));
    let idle = app.limits.idle_connection_timeout;
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
                let activity = Activity::new();
                let tracked = activity.clone();
                let svc = service_fn(move |req| {
                    let in_flight = tracked.begin();
                    let app = app.clone();
                    async move {
                        let response = handle(app, peer, req).await;
                        drop(in_flight);
                        response
                    }
                });
                let conn = hyper::server::conn::http1::Builder::new()
                    .keep_alive(true)
                    .serve_connection(TokioIo::new(stream), svc);
                let stop = stop_rx.clone();
                tokio::spawn(async move {
                    if let Err(e) = drive(conn, &activity, idle, stop).await {
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
    let _ = stop_tx.send(true);
    // Every connection holds a slot until it has closed: all of them back means all closed.
    let all = u32::try_from(max).unwrap_or(u32::MAX);
    tokio::select! {
        _ = slots.acquire_many(all) => tracing::info!("requests in flight finished"),
        _ = tokio::time::sleep(DRAIN) => tracing::warn!("requests still in flight after {DRAIN:?}; stopping anyway"),
    }
}
