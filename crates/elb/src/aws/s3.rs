//! The S3 state bucket behind the switch lock and audit trail: conditional
//! writes (If-None-Match, If-Match) make the lock safe between concurrent
//! operators; a lost race is an answer, not an error.

use aws_sdk_s3::primitives::ByteStream;
use chrono::{DateTime, Utc};

use super::errors::{classify, is_code};
use crate::error::ElbError;
use crate::model::{StateStore, StoredObject};

/// The state bucket.
#[derive(Clone)]
pub struct S3Store {
    client: aws_sdk_s3::Client,
    bucket: String,
}

impl S3Store {
    pub(super) fn new(client: aws_sdk_s3::Client, bucket: &str) -> S3Store {
        S3Store {
            client,
            bucket: bucket.to_string(),
        }
    }
}

impl StateStore for S3Store {
    async fn put_if_absent(&self, key: &str, body: Vec<u8>) -> Result<bool, ElbError> {
        match self
            .client
            .put_object()
            .bucket(&self.bucket)
            .key(key)
            .content_type("application/json")
            .if_none_match("*")
            .body(ByteStream::from(body))
            .send()
            .await
        {
            Ok(_) => Ok(true),
            // 412: it exists; 409: a concurrent conditional write won the race.
            Err(e)
                if matches!(
                    e.raw_response().map(|r| r.status().as_u16()),
                    Some(412 | 409)
                ) || is_code(&e, &["PreconditionFailed", "ConditionalRequestConflict"]) =>
            {
                Ok(false)
            }
            Err(e) => Err(classify("s3:PutObject", e)),
        }
    }

    async fn put_if_match(&self, key: &str, body: Vec<u8>, etag: &str) -> Result<bool, ElbError> {
        match self
            .client
            .put_object()
            .bucket(&self.bucket)
            .key(key)
            .content_type("application/json")
            .if_match(etag)
            .body(ByteStream::from(body))
            .send()
            .await
        {
            Ok(_) => Ok(true),
            // 412: another version now; 409: a concurrent conditional write won;
            // 404: the object is gone (released or deleted meanwhile).
            Err(e)
                if matches!(
                    e.raw_response().map(|r| r.status().as_u16()),
                    Some(412 | 409 | 404)
                ) || is_code(
                    &e,
                    &[
                        "PreconditionFailed",
                        "ConditionalRequestConflict",
                        "NoSuchKey",
                    ],
                ) =>
            {
                Ok(false)
            }
            Err(e) => Err(classify("s3:PutObject", e)),
        }
    }

    async fn put(&self, key: &str, body: Vec<u8>) -> Result<(), ElbError> {
        self.client
            .put_object()
            .bucket(&self.bucket)
            .key(key)
            .content_type("application/json")
            .body(ByteStream::from(body))
            .send()
            .await
            .map_err(|e| classify("s3:PutObject", e))?;
        Ok(())
    }

    async fn get(&self, key: &str) -> Result<Option<StoredObject>, ElbError> {
        let out = match self
            .client
            .get_object()
            .bucket(&self.bucket)
            .key(key)
            .send()
            .await
        {
            Ok(o) => o,
            Err(e) if e.as_service_error().is_some_and(|s| s.is_no_such_key()) => return Ok(None),
            Err(e) => return Err(classify("s3:GetObject", e)),
        };
        let etag = out.e_tag().map(str::to_string);
        let last_modified = out
            .last_modified()
            .and_then(|t| DateTime::<Utc>::from_timestamp(t.secs(), t.subsec_nanos()));
        let body = out
            .body
            .collect()
            .await
            .map_err(|e| ElbError::Transient {
                action: "s3:GetObject",
                message: e.to_string(),
            })?
            .into_bytes()
            .to_vec();
        Ok(Some(StoredObject {
            body,
            last_modified,
            etag,
        }))
    }

    async fn delete(&self, key: &str) -> Result<(), ElbError> {
        self.client
            .delete_object()
            .bucket(&self.bucket)
            .key(key)
            .send()
            .await
            .map_err(|e| classify("s3:DeleteObject", e))?;
        Ok(())
    }
}
