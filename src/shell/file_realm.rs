//! STUB (replaced by the client branch).
#![allow(dead_code, unused_variables)]
use crate::shell::es_client::Credentials;
pub struct TempSuperuser;
impl TempSuperuser {
    pub fn create(config_dir: &std::path::Path) -> anyhow::Result<Self> {
        anyhow::bail!("stub")
    }
    pub fn credentials(&self) -> Credentials {
        Credentials {
            username: String::new(),
            password: zeroize::Zeroizing::new(String::new()),
        }
    }
    pub fn remove(self) -> anyhow::Result<()> {
        Ok(())
    }
}
