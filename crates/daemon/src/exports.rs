//! Active dm devices as NBD exports, by name.

use std::sync::Arc;
use ulvm_dm::Registry;
use ulvm_nbd::{Export, Exports};

pub struct RegistryExports(pub Arc<Registry>);

impl Exports for RegistryExports {
    fn list(&self) -> Vec<String> {
        self.0.list().into_iter().map(|(n, _)| n).filter(|n| self.0.info(n).is_ok_and(|i| i.live_table)).collect()
    }

    fn open(&self, name: &str) -> Option<Export> {
        let dev = self.0.device(name).ok()?;
        let info = dev.info();
        if !info.live_table {
            return None;
        }
        let hold = dev.open();
        Some(Export {
            read_only: info.read_only,
            description: format!("ulvm device {name} ({})", info.num),
            dev,
            hold: Some(Box::new(hold)),
        })
    }
}
