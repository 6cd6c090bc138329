//! A deadline for receiving a request's body, counted from the moment its
//! headers were read: a client sending a byte every few seconds is cut off
//! when the time is up, not kept for ever (an idle timer, such as
//! tower-http's `TimeoutBody`, restarts at every byte).

use std::pin::Pin;
use std::task::{Context, Poll, ready};
use std::time::Duration;

use hyper::body::{Body, Frame, SizeHint};
use pin_project_lite::pin_project;
use tokio::time::{Instant, Sleep};

/// The body was not received before its deadline.
#[derive(Debug, thiserror::Error)]
#[error("the request body was not received in time")]
pub struct BodyDeadlineExceeded;

pin_project! {
    /// A request body that fails with [`BodyDeadlineExceeded`] when it has
    /// not been received in full by its deadline. The timer is armed only
    /// when the body has to be waited for.
    pub struct DeadlineBody<B> {
        #[pin]
        inner: B,
        deadline: Instant,
        sleep: Option<Pin<Box<Sleep>>>,
    }
}

impl<B> DeadlineBody<B> {
    /// `inner`, to be received within `timeout` from now.
    pub fn new(inner: B, timeout: Duration) -> Self {
        Self {
            inner,
            deadline: Instant::now() + timeout,
            sleep: None,
        }
    }
}

impl<B> Body for DeadlineBody<B>
where
    B: Body,
    B::Error: Into<crate::Error>,
{
    type Data = B::Data;
    type Error = crate::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Self::Data>, Self::Error>>> {
        let this = self.project();
        if let Poll::Ready(frame) = this.inner.poll_frame(cx) {
            return Poll::Ready(frame.map(|f| f.map_err(Into::into)));
        }
        let deadline = *this.deadline;
        let sleep = this
            .sleep
            .get_or_insert_with(|| Box::pin(tokio::time::sleep_until(deadline)));
        ready!(sleep.as_mut().poll(cx));
        Poll::Ready(Some(Err(BodyDeadlineExceeded.into())))
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

/// A service that puts each request's body under a deadline of `timeout`
/// from the moment the request reaches it (its headers have just been read).
#[derive(Clone, Debug)]
pub struct BodyDeadline<S> {
    inner: S,
    timeout: Duration,
}

impl<S> BodyDeadline<S> {
    /// Wraps `inner`.
    pub fn new(inner: S, timeout: Duration) -> Self {
        Self { inner, timeout }
    }
}

impl<S, B> tower::Service<http::Request<B>> for BodyDeadline<S>
where
    S: tower::Service<http::Request<axum::body::Body>>,
    B: Body<Data = bytes::Bytes> + Send + 'static,
    B::Error: Into<crate::Error>,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = S::Future;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: http::Request<B>) -> Self::Future {
        let timeout = self.timeout;
        self.inner
            .call(request.map(|body| axum::body::Body::new(DeadlineBody::new(body, timeout))))
    }
}

/// Whether `error`, or an error it wraps, is [`BodyDeadlineExceeded`].
pub fn is_deadline(error: &(dyn std::error::Error + 'static)) -> bool {
    let mut current = Some(error);
    while let Some(error) = current {
        if error.is::<BodyDeadlineExceeded>() {
            return true;
        }
        current = error.source();
    }
    false
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A body whose frames come from a channel.
    struct Channel(tokio::sync::mpsc::Receiver<bytes::Bytes>);

    impl Body for Channel {
        type Data = bytes::Bytes;
        type Error = std::convert::Infallible;

        fn poll_frame(
            mut self: Pin<&mut Self>,
            cx: &mut Context<'_>,
        ) -> Poll<Option<Result<Frame<Self::Data>, Self::Error>>> {
            self.0.poll_recv(cx).map(|b| b.map(|b| Ok(Frame::data(b))))
        }
    }

    /// A body trickling a byte every 50 ms fails at its deadline, although no
    /// gap between two bytes is that long.
    #[tokio::test]
    async fn a_trickling_body_fails_at_its_deadline() {
        let (tx, rx) = tokio::sync::mpsc::channel(1);
        tokio::spawn(async move {
            loop {
                tokio::time::sleep(Duration::from_millis(50)).await;
                if tx.send(bytes::Bytes::from_static(b"x")).await.is_err() {
                    break;
                }
            }
        });
        let body = DeadlineBody::new(Channel(rx), Duration::from_millis(300));
        let started = tokio::time::Instant::now();
        let error = axum::body::to_bytes(axum::body::Body::new(body), usize::MAX)
            .await
            .expect_err("cut off");
        assert!(is_deadline(&error), "{error}");
        assert!(started.elapsed() >= Duration::from_millis(300));
        assert!(started.elapsed() < Duration::from_secs(2));
    }
}
