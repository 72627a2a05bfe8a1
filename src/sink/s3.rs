//! The S3 destination: `s3://bucket[/prefix]`.
//!
//! Owns how objects reach a bucket without a reader ever seeing half of one.
//! S3 has no rename, but a PUT is atomic: an object is buffered and sent as
//! one PutObject at commit, or, once it outgrows one part, as a multipart
//! upload whose parts are sent as they fill and which becomes visible only at
//! CompleteMultipartUpload. A staged object dropped without commit is never
//! visible (an unfinished multipart upload is aborted). Every key is
//! `{prefix}/{checked relative path}`, so nothing is written outside the
//! prefix. Credentials come from the same default chain (and `--profile`,
//! `--endpoint-url`) as the collectors; optional server-side encryption is
//! applied to every object.

use std::io::{self, Write};
use std::sync::Arc;

use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::types::{CompletedMultipartUpload, CompletedPart, ServerSideEncryption};

use super::{check_rel_path, Destination, StagedObject};
use crate::aws::{connect, sdk_error, AwsSettings};
use crate::error::Error;
use crate::failpoint;

/// Server-side encryption asked of every object.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Sse {
    /// SSE-S3 (`AES256`).
    S3,
    /// SSE-KMS with an optional key id or ARN (else the account's AWS managed key).
    Kms(Option<String>),
}

/// Options of an S3 destination.
#[derive(Debug, Clone, Default)]
pub struct S3Options {
    pub sse: Option<Sse>,
    /// Part size of multipart uploads; objects smaller than this are one PutObject.
    pub part_size: usize,
}

/// Default part size: 8 MiB (S3's minimum is 5 MiB).
pub const DEFAULT_PART_SIZE: usize = 8 * 1024 * 1024;

/// `s3://bucket/prefix` → (bucket, prefix without slashes at either end).
pub fn parse_url(url: &str) -> Result<(String, String), Error> {
    let rest = url
        .strip_prefix("s3://")
        .ok_or_else(|| Error::Usage(format!("{url:?}: not an s3:// URL")))?;
    let (bucket, prefix) = rest.split_once('/').unwrap_or((rest, ""));
    let bucket_ok = (3..=63).contains(&bucket.len())
        && bucket
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'.' || b == b'-')
        && !bucket.starts_with(['.', '-'])
        && !bucket.ends_with(['.', '-']);
    if !bucket_ok {
        return Err(Error::Usage(format!(
            "{url}: {bucket:?} is not a valid bucket name (3-63 of a-z 0-9 . -)"
        )));
    }
    let prefix = prefix.trim_end_matches('/');
    if !prefix.is_empty() {
        check_rel_path(prefix).map_err(|_| {
            Error::Usage(format!(
                "{url}: the prefix may not contain empty, '.' or '..' segments"
            ))
        })?;
    }
    Ok((bucket.to_string(), prefix.to_string()))
}

struct Inner {
    rt: tokio::runtime::Runtime,
    client: aws_sdk_s3::Client,
    bucket: String,
    prefix: String,
    opts: S3Options,
}

impl Inner {
    fn key(&self, rel: &str) -> Result<String, Error> {
        check_rel_path(rel)?;
        Ok(if self.prefix.is_empty() {
            rel.to_string()
        } else {
            format!("{}/{rel}", self.prefix)
        })
    }

    fn url(&self, key: &str) -> String {
        format!("s3://{}/{key}", self.bucket)
    }

    fn err<E>(
        &self,
        op: &str,
        key: &str,
        e: &aws_smithy_runtime_api::client::result::SdkError<
            E,
            aws_smithy_runtime_api::http::Response,
        >,
    ) -> Error
    where
        E: aws_smithy_types::error::metadata::ProvideErrorMetadata + std::error::Error + 'static,
    {
        Error::Aws {
            scope: self.url(key),
            message: sdk_error(op, e),
        }
    }

    /// Runs a future on our runtime from synchronous code (the writers run
    /// on plain threads; a caller inside another runtime gets a helper thread).
    fn block<F: std::future::Future + Send>(&self, f: F) -> F::Output
    where
        F::Output: Send,
    {
        if tokio::runtime::Handle::try_current().is_ok() {
            std::thread::scope(|s| {
                s.spawn(|| self.rt.block_on(f))
                    .join()
                    .expect("S3 call panicked")
            })
        } else {
            self.rt.block_on(f)
        }
    }

    /// The encryption headers asked of every object: (algorithm, KMS key).
    fn sse(&self) -> (Option<ServerSideEncryption>, Option<String>) {
        match &self.opts.sse {
            None => (None, None),
            Some(Sse::S3) => (Some(ServerSideEncryption::Aes256), None),
            Some(Sse::Kms(k)) => (Some(ServerSideEncryption::AwsKms), k.clone()),
        }
    }

    /// A PutObject of `body` at `key`, with the encryption every object gets.
    fn put_request(
        &self,
        key: &str,
        body: Vec<u8>,
    ) -> aws_sdk_s3::operation::put_object::builders::PutObjectFluentBuilder {
        let (sse, kms) = self.sse();
        self.client
            .put_object()
            .bucket(&self.bucket)
            .key(key)
            .set_server_side_encryption(sse)
            .set_ssekms_key_id(kms)
            .body(ByteStream::from(body))
    }

    fn put(&self, key: &str, body: Vec<u8>) -> Result<(), Error> {
        self.block(self.put_request(key, body).send())
            .map(|_| ())
            .map_err(|e| self.err("s3:PutObject", key, &e))
    }
}

/// A bucket prefix.
pub struct S3Destination {
    inner: Arc<Inner>,
}

/// The region of a bucket from its `GetBucketLocation` answer: no
/// constraint (or an empty one) is us-east-1, and `EU`, the legacy name
/// botocore's model still lists, is eu-west-1.
fn bucket_region(constraint: Option<&str>) -> &str {
    match constraint {
        None | Some("") => "us-east-1",
        Some("EU") => "eu-west-1",
        Some(r) => r,
    }
}

impl S3Destination {
    /// Connects to the bucket of `url`, in the bucket's own region.
    pub fn new(url: &str, aws: &AwsSettings, opts: S3Options) -> Result<Self, Error> {
        let (bucket, prefix) = parse_url(url)?;
        let (rt, conf) = connect(aws)?;
        let build = |region: Option<String>| {
            let mut b = aws_sdk_s3::config::Builder::from(&conf);
            // A custom endpoint (moto, MinIO, a VPC endpoint by IP) has no
            // virtual-host DNS for buckets: address them by path.
            if aws.endpoint_url.is_some() {
                b = b.force_path_style(true);
            }
            if let Some(r) = region {
                b = b.region(aws_sdk_s3::config::Region::new(r));
            }
            aws_sdk_s3::Client::from_conf(b.build())
        };
        let mut client = build(None);
        // Find the bucket's region, so that a bucket elsewhere than the
        // default region works without a redirect dance. GetBucketLocation
        // needs no listing right: a role may list only its own prefix
        // (an `s3:prefix` condition, which HeadBucket would fail).
        let located = rt.block_on(client.get_bucket_location().bucket(&bucket).send());
        match located {
            Ok(out) => {
                let region = bucket_region(out.location_constraint().map(|c| c.as_str()));
                if Some(region) != conf.region().map(|r| r.as_ref()) {
                    client = build(Some(region.to_string()));
                }
            }
            Err(e) => {
                let status = e.raw_response().map(|r| r.status().as_u16());
                let why = match status {
                    Some(404) => "the bucket does not exist".to_string(),
                    Some(403) => {
                        "access denied (s3:GetBucketLocation on the bucket is needed)".into()
                    }
                    _ => sdk_error("s3:GetBucketLocation", &e),
                };
                return Err(Error::Aws {
                    scope: format!("s3://{bucket}"),
                    message: format!("cannot use destination {url}: {why}"),
                });
            }
        }
        let mut opts = opts;
        if opts.part_size == 0 {
            opts.part_size = DEFAULT_PART_SIZE;
        }
        Ok(S3Destination {
            inner: Arc::new(Inner {
                rt,
                client,
                bucket,
                prefix,
                opts,
            }),
        })
    }
}

/// An object on its way to S3; see the module doc for the protocol.
struct S3Staged {
    inner: Arc<Inner>,
    key: String,
    buf: Vec<u8>,
    upload: Option<Multipart>,
    written: u64,
    fail: bool,
}

struct Multipart {
    id: String,
    parts: Vec<CompletedPart>,
}

impl S3Staged {
    /// Sends the buffer as the next part, starting the upload if needed.
    fn send_part(&mut self) -> Result<(), Error> {
        let inner = self.inner.clone();
        if self.upload.is_none() {
            let (sse, kms) = inner.sse();
            let req = inner
                .client
                .create_multipart_upload()
                .bucket(&inner.bucket)
                .key(&self.key)
                .set_server_side_encryption(sse)
                .set_ssekms_key_id(kms);
            let out = inner
                .block(req.send())
                .map_err(|e| inner.err("s3:PutObject (CreateMultipartUpload)", &self.key, &e))?;
            let id = out.upload_id().ok_or_else(|| Error::Aws {
                scope: inner.url(&self.key),
                message: "CreateMultipartUpload returned no upload id".into(),
            })?;
            self.upload = Some(Multipart {
                id: id.to_string(),
                parts: Vec::new(),
            });
        }
        let up = self.upload.as_mut().expect("just set");
        let number = up.parts.len() as i32 + 1;
        let body = std::mem::take(&mut self.buf);
        let out = inner
            .block(
                inner
                    .client
                    .upload_part()
                    .bucket(&inner.bucket)
                    .key(&self.key)
                    .upload_id(&up.id)
                    .part_number(number)
                    .body(ByteStream::from(body))
                    .send(),
            )
            .map_err(|e| inner.err("s3:PutObject (UploadPart)", &self.key, &e))?;
        up.parts.push(
            CompletedPart::builder()
                .part_number(number)
                .set_e_tag(out.e_tag().map(str::to_string))
                .build(),
        );
        Ok(())
    }
}

impl Write for S3Staged {
    fn write(&mut self, data: &[u8]) -> io::Result<usize> {
        if self.fail {
            return Err(io::Error::other(
                "injected write failure (FLEETCMDB_FAILPOINT)",
            ));
        }
        self.buf.extend_from_slice(data);
        self.written += data.len() as u64;
        if self.buf.len() >= self.inner.opts.part_size {
            self.send_part().map_err(io::Error::other)?;
        }
        Ok(data.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl StagedObject for S3Staged {
    fn commit(mut self: Box<Self>) -> Result<u64, Error> {
        if self.upload.is_none() {
            let body = std::mem::take(&mut self.buf);
            self.inner.put(&self.key, body)?;
            return Ok(self.written);
        }
        if !self.buf.is_empty() {
            self.send_part()?;
        }
        let up = self.upload.take().expect("multipart");
        let inner = self.inner.clone();
        let done = inner.block(
            inner
                .client
                .complete_multipart_upload()
                .bucket(&inner.bucket)
                .key(&self.key)
                .upload_id(&up.id)
                .multipart_upload(
                    CompletedMultipartUpload::builder()
                        .set_parts(Some(up.parts))
                        .build(),
                )
                .send(),
        );
        if let Err(e) = done {
            self.upload = Some(Multipart {
                id: up.id,
                parts: Vec::new(),
            }); // aborted on drop
            return Err(inner.err("s3:PutObject (CompleteMultipartUpload)", &self.key, &e));
        }
        Ok(self.written)
    }
}

impl Drop for S3Staged {
    fn drop(&mut self) {
        if let Some(up) = self.upload.take() {
            let inner = &self.inner;
            let _ = inner.block(
                inner
                    .client
                    .abort_multipart_upload()
                    .bucket(&inner.bucket)
                    .key(&self.key)
                    .upload_id(up.id)
                    .send(),
            );
        }
    }
}

impl Destination for S3Destination {
    fn url(&self) -> String {
        let i = &self.inner;
        if i.prefix.is_empty() {
            format!("s3://{}", i.bucket)
        } else {
            format!("s3://{}/{}", i.bucket, i.prefix)
        }
    }

    /// Writes, lists and deletes a probe object under the prefix. The probe
    /// has a folder of its own, so listing it costs one small call however
    /// large the export is.
    fn healthcheck(&self) -> Result<(), Error> {
        let dir = ".fleetcmdb-healthcheck";
        let rel = format!(
            "{dir}/{}-{}",
            std::process::id(),
            chrono::Utc::now().timestamp_millis()
        );
        let key = self.inner.key(&rel)?;
        let fail = |what: &str, e: Error| Error::Aws {
            scope: self.url(),
            message: format!("healthcheck: cannot {what} under the prefix: {e}"),
        };
        self.inner
            .put(&key, b"ok".to_vec())
            .map_err(|e| fail("write (s3:PutObject)", e))?;
        let listed = self
            .list(dir)
            .map_err(|e| fail("list (s3:ListBucket)", e))?;
        if !listed.contains(&rel) {
            return Err(Error::Aws {
                scope: self.url(),
                message: format!("healthcheck: the probe {key} was written but is not listed"),
            });
        }
        self.delete(&rel)
            .map_err(|e| fail("delete (s3:DeleteObject)", e))
    }

    fn stage(&self, rel_path: &str) -> Result<Box<dyn StagedObject>, Error> {
        let key = self.inner.key(rel_path)?;
        Ok(Box::new(S3Staged {
            inner: self.inner.clone(),
            key,
            buf: Vec::new(),
            upload: None,
            written: 0,
            fail: failpoint::armed("fail-write", rel_path),
        }))
    }

    fn list(&self, rel_prefix: &str) -> Result<Vec<String>, Error> {
        let i = &self.inner;
        let root = if i.prefix.is_empty() {
            String::new()
        } else {
            format!("{}/", i.prefix)
        };
        let full = if rel_prefix.is_empty() {
            root.clone()
        } else {
            check_rel_path(rel_prefix)?;
            format!("{root}{rel_prefix}/")
        };
        let mut out = Vec::new();
        let mut token: Option<String> = None;
        loop {
            let page = i
                .block(
                    i.client
                        .list_objects_v2()
                        .bucket(&i.bucket)
                        .prefix(&full)
                        .set_continuation_token(token.take())
                        .send(),
                )
                .map_err(|e| i.err("s3:ListBucket", &full, &e))?;
            for o in page.contents() {
                if let Some(rel) = o.key().and_then(|k| k.strip_prefix(&root)) {
                    out.push(rel.to_string());
                }
            }
            match page.next_continuation_token() {
                Some(t) if page.is_truncated() == Some(true) => token = Some(t.to_string()),
                _ => break,
            }
        }
        out.sort();
        Ok(out)
    }

    fn read(&self, rel_path: &str, max_bytes: u64) -> Result<Vec<u8>, Error> {
        let i = &self.inner;
        let key = i.key(rel_path)?;
        i.block(async {
            let out = i
                .client
                .get_object()
                .bucket(&i.bucket)
                .key(&key)
                .send()
                .await
                .map_err(|e| {
                    if e.raw_response().map(|r| r.status().as_u16()) == Some(404) {
                        Error::NotFound(i.url(&key))
                    } else {
                        i.err("s3:GetObject", &key, &e)
                    }
                })?;
            // The declared length is checked before the body is read; the
            // body is then read in chunks and cut at the limit regardless.
            let declared = out.content_length().unwrap_or(0).max(0) as u64;
            if declared > max_bytes {
                return Err(crate::input::too_big(&i.url(&key), declared, max_bytes));
            }
            let mut body = out.body;
            let mut data = Vec::with_capacity(declared as usize);
            while let Some(chunk) = body.try_next().await.map_err(|e| Error::Aws {
                scope: i.url(&key),
                message: format!("s3:GetObject: reading the body: {e}"),
            })? {
                data.extend_from_slice(&chunk);
                if data.len() as u64 > max_bytes {
                    return Err(crate::input::too_big(
                        &i.url(&key),
                        data.len() as u64,
                        max_bytes,
                    ));
                }
            }
            Ok(data)
        })
    }

    fn put_new(&self, rel_path: &str, data: &[u8]) -> Result<bool, Error> {
        self.put_new_tagged(rel_path, data, "")
    }

    fn put_new_tagged(&self, rel_path: &str, data: &[u8], tagging: &str) -> Result<bool, Error> {
        let i = &self.inner;
        let key = i.key(rel_path)?;
        let mut req = i.put_request(&key, data.to_vec()).if_none_match("*");
        if !tagging.is_empty() {
            req = req.tagging(tagging);
        }
        match i.block(req.send()) {
            Ok(_) => Ok(true),
            // 412: an object has that name; 409: a concurrent conditional write won.
            Err(e)
                if matches!(
                    e.raw_response().map(|r| r.status().as_u16()),
                    Some(412 | 409)
                ) =>
            {
                Ok(false)
            }
            Err(e) => Err(i.err("s3:PutObject", &key, &e)),
        }
    }

    fn delete(&self, rel_path: &str) -> Result<(), Error> {
        let i = &self.inner;
        let key = i.key(rel_path)?;
        i.block(i.client.delete_object().bucket(&i.bucket).key(&key).send())
            .map(|_| ())
            .map_err(|e| i.err("s3:DeleteObject", &key, &e))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_bucket_location_is_read_as_s3_publishes_it() {
        // aws s3api get-bucket-location, as the AWS CLI's example prints it.
        assert_eq!(bucket_region(Some("us-west-2")), "us-west-2");
        // us-east-1 buckets have no constraint; the legacy EU is eu-west-1.
        assert_eq!(bucket_region(None), "us-east-1");
        assert_eq!(bucket_region(Some("")), "us-east-1");
        assert_eq!(bucket_region(Some("EU")), "eu-west-1");
    }

    #[test]
    fn urls_are_checked_before_anything_is_written() {
        assert_eq!(
            parse_url("s3://org-cmdb/prod/").unwrap(),
            ("org-cmdb".into(), "prod".into())
        );
        assert_eq!(
            parse_url("s3://org-cmdb").unwrap(),
            ("org-cmdb".into(), "".into())
        );
        assert_eq!(
            parse_url("s3://b.example-1/a/b").unwrap().1,
            "a/b".to_string()
        );
        for bad in [
            "s3://",
            "s3://ab",
            "s3://Upper",
            "s3://b_x/p",
            "s3://bucket/../x",
            "s3://bucket/a//b",
            "s3://bucket/./a",
            "https://bucket/a",
        ] {
            let e = parse_url(bad).unwrap_err().to_string();
            assert!(
                e.contains(bad.trim_start_matches("s3://").split('/').next().unwrap())
                    || e.contains(bad),
                "{bad}: {e}"
            );
        }
    }
}
