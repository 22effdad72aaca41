//! STUB (replaced by the keystore branch).
#![allow(dead_code, unused_variables)]
pub struct KibanaKeystore;
impl KibanaKeystore {
    pub fn new() -> Self {
        Self
    }
    pub fn parse(text: &str, password: &str) -> Result<Self, super::es::KeystoreError> {
        Err(super::es::KeystoreError)
    }
    pub fn to_string(&self, password: &str) -> anyhow::Result<String> {
        anyhow::bail!("stub")
    }
    pub fn set(&mut self, name: &str, value: &str) {}
    pub fn remove(&mut self, name: &str) -> bool {
        false
    }
    pub fn names(&self) -> Vec<String> {
        Vec::new()
    }
}
