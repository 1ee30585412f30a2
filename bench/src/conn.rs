//! One client connection with keep-alive, reopened when the server closes it (some peers answer
//! `Connection: close`; an SDK would reconnect too, so the reconnection counts in the latency).

use anyhow::Context;
use bytes::Bytes;
use http::{Request, StatusCode};
use http_body_util::{BodyExt, Full};
use hyper::client::conn::http1::SendRequest;
use hyper_util::rt::TokioIo;

pub struct Conn {
    authority: String,
    sender: Option<SendRequest<Full<Bytes>>>,
}

impl Conn {
    pub fn new(authority: &str) -> Conn {
        Conn {
            authority: authority.to_owned(),
            sender: None,
        }
    }

    async fn open(&mut self) -> anyhow::Result<&mut SendRequest<Full<Bytes>>> {
        if self.sender.is_none() {
            let stream = tokio::net::TcpStream::connect(&self.authority)
                .await
                .with_context(|| format!("connecting to {}", self.authority))?;
            stream.set_nodelay(true)?;
            let (sender, driver) =
                hyper::client::conn::http1::handshake::<_, Full<Bytes>>(TokioIo::new(stream)).await?;
            tokio::spawn(driver);
            self.sender = Some(sender);
        }
        self.sender.as_mut().context("no connection")
    }

    /// Sends the request `make` builds (again, if the connection had closed) and reads the whole answer.
    pub async fn send(
        &mut self,
        make: impl Fn() -> anyhow::Result<Request<Full<Bytes>>>,
    ) -> anyhow::Result<(StatusCode, Bytes)> {
        for _ in 0..3 {
            let sender = self.open().await?;
            if sender.ready().await.is_err() {
                self.sender = None;
                continue;
            }
            let Ok(resp) = sender.send_request(make()?).await else {
                self.sender = None;
                continue;
            };
            let status = resp.status();
            match resp.into_body().collect().await {
                Ok(body) => return Ok((status, body.to_bytes())),
                Err(_) => self.sender = None,
            }
        }
        anyhow::bail!("the connection to {} keeps closing", self.authority)
    }
}
