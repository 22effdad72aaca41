//! STUB (replaced by the keystore branch).
#![allow(dead_code, unused_variables)]
#[derive(Debug, thiserror::Error)]
#[error("stub")]
pub struct KeystoreError;
pub struct EsKeystore;
pub fn format_for_version(major: u32, minor: u32) -> u32 {
    6
}
impl EsKeystore {
    pub fn new(format: u32) -> anyhow::Result<Self> {
        Ok(Self)
    }
    pub fn parse(bytes: &[u8], password: &str) -> Result<Self, KeystoreError> {
        Err(KeystoreError)
    }
    pub fn to_bytes(&self, password: &str) -> anyhow::Result<Vec<u8>> {
        anyhow::bail!("stub")
    }
    pub fn set(&mut self, name: &str, value: &[u8]) -> Result<(), KeystoreError> {
        Ok(())
    }
    pub fn remove(&mut self, name: &str) -> bool {
        false
    }
    pub fn names(&self) -> Vec<String> {
        Vec::new()
    }
}
