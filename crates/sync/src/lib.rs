//! Keeps a key-value prefix of store A replicated into store B during the
//! cutover window: one `KvStore` seam, one engine, thin Consul and etcd
//! backends, and a checkpoint so a restarted follow resumes where it stopped.

pub mod checkpoint;
pub mod consul;
pub mod engine;
pub mod etcd;
pub mod store;
pub mod tls;
