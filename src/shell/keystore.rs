//! Keystores: Elasticsearch's `elasticsearch.keystore` and Kibana's `kibana.keystore`.

pub mod es;
pub mod kibana;
