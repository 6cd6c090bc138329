//! The futures of the registration services, nameable as
//! `tower_dcr::future::*` (as tower-http does).

use std::convert::Infallible;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll, ready};

use http::Response;
use http_body_util::Either;
use pin_project_lite::pin_project;

use crate::response::ResponseBody;

/// The future returned by [`Registration`](crate::Registration)'s `Service::call`.
pub type RegistrationFuture =
    Pin<Box<dyn Future<Output = Result<Response<ResponseBody>, Infallible>> + Send>>;

pin_project! {
    /// The future of [`Dcr<S>`](crate::Dcr): the
    /// registration response, or the inner service's.
    pub struct ResponseFuture<F> {
        #[pin]
        kind: Kind<F>,
    }
}

pin_project! {
    #[project = KindProj]
    enum Kind<F> {
        Registration { #[pin] future: RegistrationFuture },
        Inner { #[pin] future: F },
    }
}

impl<F> ResponseFuture<F> {
    /// The registration service answers.
    pub(crate) fn registration(future: RegistrationFuture) -> Self {
        Self {
            kind: Kind::Registration { future },
        }
    }

    /// The inner service answers.
    pub(crate) fn inner(future: F) -> Self {
        Self {
            kind: Kind::Inner { future },
        }
    }
}

impl<F, ResBody, E> Future for ResponseFuture<F>
where
    F: Future<Output = Result<Response<ResBody>, E>>,
{
    type Output = Result<Response<Either<ResponseBody, ResBody>>, E>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        match self.project().kind.project() {
            KindProj::Registration { future } => {
                let response = match ready!(future.poll(cx)) {
                    Ok(response) => response,
                    Err(never) => match never {},
                };
                Poll::Ready(Ok(response.map(Either::Left)))
            }
            KindProj::Inner { future } => {
                Poll::Ready(ready!(future.poll(cx)).map(|r| r.map(Either::Right)))
            }
        }
    }
}
