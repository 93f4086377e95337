//! A reloaded policy's governor takes over the state of the one it replaces: every
//! service state, block, open report and trigger window, so that a hot reload forgets
//! nothing — with a durable store or without one.

use std::sync::Arc;
use std::sync::atomic::Ordering;

use super::{Governor, Window, lock, read, write};

impl Governor {
    /// This governor, with everything `old` knows carried over. Services are matched by
    /// name, blocks by their field's path (a block on a field the new schema lacks is
    /// dropped), reports are all kept. A trigger keeps its window when its name, kind,
    /// window length and `by` field are unchanged; a trigger changed in any of these
    /// starts counting afresh.
    pub fn succeeding(mut self, old: &Governor) -> Governor {
        self.take_services(old);
        self.take_blocks(old);
        self.take_reports(old);
        self.take_windows(old);
        self
    }

    fn take_services(&self, old: &Governor) {
        for cell in &self.services {
            let Some(before) = old.services.iter().find(|c| c.name == cell.name) else {
                continue;
            };
            let state = lock(&before.machine).state.clone();
            let mut machine = lock(&cell.machine);
            machine.state = state;
            cell.publish(&machine);
        }
    }

    fn take_blocks(&self, old: &Governor) {
        let before = read(&old.blocks);
        let mut table = write(&self.blocks);
        let mut count = 0;
        for (old_slot, keys) in &before.by_slot {
            let Some(path) = old.ir().fields.get(*old_slot).map(|f| f.path.as_str()) else {
                continue;
            };
            let Some(slot) = self.field_slot(path) else {
                continue;
            };
            let entry = table.by_slot.entry(slot).or_default();
            for (key, block) in keys {
                if entry.insert(key.clone(), block.clone()).is_none() {
                    count += 1;
                }
            }
        }
        self.block_count.fetch_add(count, Ordering::AcqRel);
    }

    fn take_reports(&self, old: &Governor) {
        let before = lock(&old.reports).clone();
        let mut reports = lock(&self.reports);
        for (id, report) in before {
            reports.entry(id).or_insert(report);
        }
        self.next_report
            .fetch_max(old.next_report.load(Ordering::Acquire), Ordering::AcqRel);
    }

    fn take_windows(&mut self, old: &Governor) {
        let ir = Arc::clone(self.guard.policy_arc());
        let old_ir = old.ir();
        for (cell, trigger) in self.triggers.iter_mut().zip(&ir.ir.triggers) {
            let Some(index) = old_ir.triggers.iter().position(|t| t.name == trigger.name) else {
                continue;
            };
            let (Some(before), Some(old_trigger)) =
                (old.triggers.get(index), old_ir.triggers.get(index))
            else {
                continue;
            };
            let path = |ir: &crate::ir::Policy, slot: Option<u32>| {
                slot.and_then(|s| ir.fields.get(s as usize))
                    .map(|f| f.path.clone())
            };
            let same = old_trigger.kind == trigger.kind
                && old_trigger.within_secs == trigger.within_secs
                && path(old_ir, old_trigger.by_slot) == path(&ir.ir, trigger.by_slot);
            if !same {
                continue;
            }
            match (&mut cell.window, &before.window) {
                (Window::Global(mine), Window::Global(theirs)) => *mine = Arc::clone(theirs),
                (
                    Window::Keyed { windows: mine, .. },
                    Window::Keyed {
                        windows: theirs, ..
                    },
                ) => {
                    *mine = Arc::clone(theirs);
                }
                _ => continue,
            }
            cell.active
                .store(before.active.load(Ordering::Acquire), Ordering::Release);
        }
    }
}
