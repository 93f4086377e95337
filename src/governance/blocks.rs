//! Blocks: keys (a user, a tenant) refused until a time, set by triggers or operators.

use super::{
    Block, Event, GovernError, Governor, Ordering, Record, StateWrite, StoreError, Timestamp, What,
    ir, read, write,
};

impl Governor {
    /// Lifts every block that has ended by `now`, recording `unblocked` at the moment
    /// each ended — whether or not its key is ever seen again. One atomic load when
    /// nothing is due.
    pub(super) fn lift_expired_blocks(&self, now: Timestamp, events: &mut Vec<Event>) {
        if now.0 < self.next_unblock.load(Ordering::Acquire) {
            return;
        }
        let mut expired: Vec<(usize, Block)> = read(&self.blocks)
            .by_slot
            .iter()
            .flat_map(|(&slot, keys)| {
                keys.values()
                    .filter(|b| b.until <= now)
                    .map(move |b| (slot, b.clone()))
            })
            .collect();
        expired.sort_by_key(|(_, b)| b.until);
        for (slot, block) in expired {
            let _ = self.lift_block(slot, &block.key, block.until, "the block expired", events);
        }
        // Under the write lock, so that a block added meanwhile is not missed.
        let table = write(&self.blocks);
        let next = table
            .by_slot
            .values()
            .flat_map(|keys| keys.values().map(|b| b.until.0))
            .min()
            .unwrap_or(u64::MAX);
        self.next_unblock.store(next, Ordering::Release);
    }

    /// The block in force on this request's key, if any (expired ones were lifted by
    /// [`Governor::lift_expired_blocks`] at the start of the decision).
    pub(super) fn blocked(&self, record: &Record, now: Timestamp) -> Option<Block> {
        if self.block_count.load(Ordering::Acquire) == 0 {
            return None;
        }
        read(&self.blocks).by_slot.iter().find_map(|(&slot, keys)| {
            let key = record.value_text(self.ir(), slot)?;
            keys.get(key.as_ref()).filter(|b| b.until > now).cloned()
        })
    }

    pub(super) fn lift_block(
        &self,
        slot: usize,
        key: &str,
        at: Timestamp,
        cause: &str,
        events: &mut Vec<Event>,
    ) -> Result<(), GovernError> {
        let mut table = write(&self.blocks);
        let Some(block) = table
            .by_slot
            .get_mut(&slot)
            .and_then(|keys| keys.remove(key))
        else {
            return Err(GovernError::Unknown(format!("`{key}` is not blocked")));
        };
        self.block_count.fetch_sub(1, Ordering::AcqRel);
        let mut new = vec![Event::new(
            at,
            What::Unblocked {
                field: block.field.clone(),
                key: block.key.clone(),
                cause: cause.to_string(),
            },
        )];
        let result = self.persist(&mut new, vec![StateWrite::Block(block_key(&block), None)]);
        events.append(&mut new);
        result
    }

    /// Adds a block; `lead` are events to record just before it (the trigger's).
    pub(super) fn add_block(
        &self,
        slot: usize,
        block: Block,
        now: Timestamp,
        mut lead: Vec<Event>,
        events: &mut Vec<Event>,
    ) -> Result<(), GovernError> {
        let mut table = write(&self.blocks);
        let keys = table.by_slot.entry(slot).or_default();
        if keys
            .get(block.key.as_str())
            .is_some_and(|b| b.until >= block.until)
        {
            return Ok(());
        }
        let text = serde_json::to_string(&block)
            .map_err(|e| StoreError(format!("cannot encode a block: {e}")))?;
        lead.push(Event::new(
            now,
            What::Blocked {
                field: block.field.clone(),
                key: block.key.clone(),
                until: block.until,
                cause: block.cause.clone(),
            },
        ));
        let mut new = lead;
        self.next_unblock.fetch_min(block.until.0, Ordering::AcqRel);
        if keys
            .insert(block.key.clone().into_boxed_str(), block.clone())
            .is_none()
        {
            self.block_count.fetch_add(1, Ordering::AcqRel);
        }
        let result = self.persist(
            &mut new,
            vec![StateWrite::Block(block_key(&block), Some(text))],
        );
        events.append(&mut new);
        result
    }

    /// Blocks one key of a field until `now + for_secs`.
    pub fn block(
        &self,
        field: &str,
        key: &str,
        for_secs: u64,
        cause: &str,
        now: Timestamp,
    ) -> Result<Vec<Event>, GovernError> {
        let slot = self.key_field(field)?;
        let mut events = Vec::new();
        self.lift_expired_blocks(now, &mut events);
        let block = Block {
            field: field.to_string(),
            key: key.to_string(),
            until: now.plus_secs(for_secs),
            cause: cause.to_string(),
            for_secs,
        };
        self.add_block(slot, block, now, Vec::new(), &mut events)?;
        Ok(events)
    }

    pub fn unblock(
        &self,
        field: &str,
        key: &str,
        by: &str,
        now: Timestamp,
    ) -> Result<Vec<Event>, GovernError> {
        let slot = self.key_field(field)?;
        let mut events = Vec::new();
        self.lift_expired_blocks(now, &mut events);
        self.lift_block(slot, key, now, &format!("operator {by}"), &mut events)?;
        Ok(events)
    }

    pub(super) fn key_field(&self, field: &str) -> Result<usize, GovernError> {
        let slot = self
            .field_slot(field)
            .ok_or_else(|| GovernError::Unknown(format!("the schema has no field `{field}`")))?;
        match self.ir().fields.get(slot).map(|f| &f.ty) {
            Some(ir::FieldType::EnumSet(_) | ir::FieldType::StrSet) => Err(GovernError::Refused(
                format!("`{field}` is a set; a block needs a field with one value per request"),
            )),
            _ => Ok(slot),
        }
    }
}

fn block_key(block: &Block) -> String {
    format!("{}\u{1f}{}", block.field, block.key)
}
