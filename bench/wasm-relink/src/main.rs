//! `wasm-relink IN OUT`: every function the module imports from `env` (the proxy-wasm
//! ABI) is replaced by a call to the function the module exports under the same name
//! (the fake host, built with `--export-dynamic`). An import with no such export traps
//! if called, so a host function the fake host lacks shows up as a trap, not a wrong
//! figure.

use std::collections::HashMap;
use std::process::ExitCode;

use walrus::ir::Instr;
use walrus::{ExportItem, FunctionBuilder, FunctionId, ImportKind, Module};

fn relink(module: &mut Module) -> (usize, Vec<String>) {
    let exported: HashMap<String, FunctionId> = module
        .exports
        .iter()
        .filter_map(|e| match e.item {
            ExportItem::Function(f) => Some((e.name.clone(), f)),
            _ => None,
        })
        .collect();
    let imports: Vec<_> = module
        .imports
        .iter()
        .filter_map(|i| match i.kind {
            ImportKind::Function(f) if i.module == "env" => Some((i.id(), f, i.name.clone())),
            _ => None,
        })
        .collect();
    let mut missing = Vec::new();
    for (import, imported, name) in &imports {
        let ty = module.types.get(module.funcs.get(*imported).ty());
        let (params, results) = (ty.params().to_vec(), ty.results().to_vec());
        let mut builder = FunctionBuilder::new(&mut module.types, &params, &results);
        let args: Vec<_> = params.iter().map(|p| module.locals.add(*p)).collect();
        let mut body = builder.func_body();
        match exported.get(name) {
            Some(&target) => {
                for &arg in &args {
                    body.local_get(arg);
                }
                body.call(target);
            }
            None => {
                missing.push(name.clone());
                body.unreachable();
            }
        }
        let local = builder.finish(args, &mut module.funcs);
        redirect_calls(module, *imported, local);
        module.imports.delete(*import);
        module.funcs.delete(*imported);
    }
    (imports.len(), missing)
}

/// Points every direct call of `from` at `to`.
fn redirect_calls(module: &mut Module, from: FunctionId, to: FunctionId) {
    for (_, func) in module.funcs.iter_local_mut() {
        let mut blocks = vec![func.entry_block()];
        while let Some(block) = blocks.pop() {
            for (instr, _) in func.block_mut(block).instrs.iter_mut() {
                match instr {
                    Instr::Call(call) if call.func == from => call.func = to,
                    Instr::Block(b) => blocks.push(b.seq),
                    Instr::Loop(l) => blocks.push(l.seq),
                    Instr::IfElse(branches) => {
                        blocks.push(branches.consequent);
                        blocks.push(branches.alternative);
                    }
                    _ => {}
                }
            }
        }
    }
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().collect();
    let [_, input, output] = args.as_slice() else {
        eprintln!("usage: wasm-relink IN.wasm OUT.wasm");
        return ExitCode::FAILURE;
    };
    let mut module = match Module::from_file(input) {
        Ok(m) => m,
        Err(e) => {
            eprintln!("wasm-relink: cannot read {input}: {e}");
            return ExitCode::FAILURE;
        }
    };
    let (count, missing) = relink(&mut module);
    if !missing.is_empty() {
        eprintln!("wasm-relink: no definition (traps if called): {missing:?}");
    }
    if let Err(e) = module.emit_wasm_file(output) {
        eprintln!("wasm-relink: cannot write {output}: {e}");
        return ExitCode::FAILURE;
    }
    eprintln!("wasm-relink: {count} host imports linked to the module's own definitions");
    ExitCode::SUCCESS
}
