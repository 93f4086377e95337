//! Dropping expression trees without deep recursion. A condition such as
//! `a or b or …` thousands of terms long is a tree thousands deep; the compiler's default
//! drop would recurse once per level and could overflow the stack. Each tree type (the
//! AST's, the checker's, the IR's) says what a leaf is and how to move its children out;
//! this walks the rest with a heap stack.

pub(crate) trait Tree: Sized {
    /// A node without children: dropping it recurses no further.
    fn is_leaf(&self) -> bool;
    /// Moves the children onto `out`, leaving leaves in their place.
    fn take_children(&mut self, out: &mut Vec<Self>);
}

/// Runs `f`, first moving to a new stack segment on the heap when this one runs low:
/// for the recursive passes over expression trees (cloning and comparing them among
/// them), so a tree's depth is bounded by memory, never by the thread's stack.
pub(crate) fn with_stack<R>(f: impl FnOnce() -> R) -> R {
    stacker::maybe_grow(64 * 1024, 1024 * 1024, f)
}

/// Empties `node` iteratively; call it from `Drop::drop`. Every node moved onto the
/// stack is left with leaf children, so its own drop returns at once.
pub(crate) fn drop_iteratively<T: Tree>(node: &mut T) {
    if node.is_leaf() {
        return;
    }
    let mut stack = Vec::new();
    node.take_children(&mut stack);
    while let Some(mut child) = stack.pop() {
        child.take_children(&mut stack);
    }
}
