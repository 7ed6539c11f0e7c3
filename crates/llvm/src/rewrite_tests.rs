//! What the unit tests of the IR rewrites (`extensions`, `register_compares`,
//! `fast_isel_forms`) share: a function's text around a body, and a module parsed from text,
//! rewritten, verified and printed again.

use inkwell::context::Context;
use inkwell::memory_buffer::MemoryBuffer;
use inkwell::module::Module;

/// `define i32 @f(<parameters>)` whose entry block holds `body`, with `yes` (returns 1) and `no`
/// (returns 0) blocks for its branches, then `after` (metadata the body refers to).
pub fn function(parameters: &str, body: &str, after: &str) -> String {
    format!(
        "define i32 @f({parameters}) {{
         entry:
           {body}
         yes:
           ret i32 1
         no:
           ret i32 0
         }}
         {after}"
    )
}

/// `ir` parsed, passed to `rewrite` (whose result is returned with the text), verified and
/// printed.
pub fn rewritten<T>(ir: &str, rewrite: impl FnOnce(&Module<'_>) -> T) -> (T, String) {
    let context = Context::create();
    let buffer = MemoryBuffer::create_from_memory_range_copy(ir.as_bytes(), "t");
    let module = context.create_module_from_ir(buffer).unwrap();
    let result = rewrite(&module);
    module.verify().unwrap();
    (result, module.print_to_string().to_string())
}
