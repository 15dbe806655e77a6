#!/usr/bin/env node
import { readFileSync } from 'node:fs';
import { Command, InvalidArgumentError, Option } from 'commander';
import { MODEL_KINDS, NORM_KINDS } from '../train/models.js';
import { runDemo } from './demo.js';
import { runCertify, runRecalibrate } from './bn-tools.js';
import { runDoctor } from './doctor.js';
import { runGan } from './gan.js';
import { DISC_NORMS } from '../train/gan.js';
import { runEval } from './eval.js';
import { runExport } from './export.js';
import { labList, labReport, labRun } from './lab.js';
import { OPTIMIZERS } from './optimizer.js';
import { runTrain } from './train.js';
import { runPlayground } from './playground.js';
import { getNumThreads, setNumThreads } from '../index.js';
import { maxThreads } from '../kernels/wasm/threads.js';

function int(name: string, min = 1) {
  return (v: string) => {
    const n = Number(v);
    if (!Number.isInteger(n) || n < min)
      throw new InvalidArgumentError(`${name} must be an integer >= ${min}, got ${v}`);
    return n;
  };
}

const threadsOption = () =>
  new Option('--threads <n>', `kernel threads (at most ${maxThreads()})`)
    .argParser(int('--threads'))
    .default(getNumThreads(), `${getNumThreads()}, the available cores`);

/** Sets the kernel threads, capped at maxThreads() with a note rather than a warning. */
function useThreads(n: number): void {
  if (n > maxThreads()) {
    console.error(`note: --threads ${n}: using ${maxThreads()}, twice the available cores or 4`);
    n = maxThreads();
  }
  setNumThreads(n);
}

function num(name: string) {
  return (v: string) => {
    const n = Number(v);
    if (!Number.isFinite(n) || n < 0)
      throw new InvalidArgumentError(`${name} must be a number >= 0, got ${v}`);
    return n;
  };
}

// A reader that closed the pipe (`normkit lab list | head`) has all it wanted: exit quietly.
process.stdout.on('error', (e: NodeJS.ErrnoException) => {
  if (e.code === 'EPIPE') process.exit(0);
  throw e;
});

const pkg = JSON.parse(readFileSync(new URL('../../../package.json', import.meta.url), 'utf8'));

const program = new Command('normkit')
  .description('Train and evaluate normalized networks on Fashion-MNIST')
  .version(pkg.version, '-V, --version', 'print the version');

program
  .command('train')
  .description('train a model on Fashion-MNIST (bundled subset, or the full set with --data)')
  .addOption(new Option('--model <kind>', 'architecture').choices(MODEL_KINDS).default('cnn'))
  .addOption(new Option('--norm <kind>', 'normalization').choices(NORM_KINDS).default('batch'))
  .option(
    '--width <n>',
    'channels of the first conv (cnn 32, resnet 16), hidden size (mlp 256, lstm 128) or model width (transformer 64)',
    int('--width'),
  )
  .option(
    '--min-length <n>',
    'lstm / transformer: train on random-length crops of n to 28 rows, the rest padding (masked); evaluation reads all 28',
    int('--min-length'),
  )
  .option('--batch-size <n>', 'mini-batch size', int('--batch-size'), 64)
  .option('--augment', 'random crops (2-pixel padding) and left-right flips of the training images')
  .option('--lr <x>', 'learning rate (default 0.05 for sgd, 1e-3 for adam/adamw)', num('--lr'))
  .option('--epochs <n>', 'epochs (cosine learning-rate decay over them)', int('--epochs'), 5)
  .addOption(new Option('--optimizer <name>', 'optimizer').choices(OPTIMIZERS).default('sgd'))
  .option(
    '--weight-decay <x>',
    'weight decay (not applied to norm parameters and biases)',
    num('--weight-decay'),
    0,
  )
  .option(
    '--label-smoothing <x>',
    'label smoothing of the training loss, in [0, 1]: the target is (1 − x)·onehot + x/classes',
    num('--label-smoothing'),
    0,
  )
  .option('--seed <n>', 'random seed', int('--seed', 0), 0)
  .option(
    '--data <dir>',
    'directory with the Fashion-MNIST IDX files (default: the bundled subset)',
  )
  .option('--train-limit <n>', 'use only the first n training images', int('--train-limit'))
  .option(
    '--validation <n>',
    'hold out the last n training images (after --train-limit) and evaluate on them every epoch',
    int('--validation', 0),
  )
  .option('--test-limit <n>', 'evaluate on only the first n test images', int('--test-limit'))
  .option(
    '--stop-after <n>',
    'run at most n epochs now (continue later with --resume)',
    int('--stop-after'),
  )
  .option(
    '--checkpoint <path>',
    'checkpoint written after every epoch (default runs/<model>-<norm>.ckpt)',
  )
  .option('--resume', 'continue from the checkpoint if it exists', false)
  .addOption(threadsOption())
  .action((o) => {
    useThreads(o.threads);
    runTrain({ ...o, checkpoint: o.checkpoint ?? `runs/${o.model}-${o.norm}.ckpt` });
  });

program
  .command('export')
  .description("write a checkpoint's model for other tools: ONNX, or its state dict as safetensors")
  .requiredOption('--checkpoint <path>', 'checkpoint written by train')
  .option('--onnx <file>', 'the eval-mode network as ONNX, batch size free (written atomically)')
  .option('--opset <n>', 'ONNX opset (13 to 21)', int('--opset'), 17)
  .option('--safetensors <file>', "the state dict, PyTorch's key names (written atomically)")
  .action((o) => runExport(o));

program
  .command('eval')
  .description('evaluate a checkpoint on the test set')
  .requiredOption('--checkpoint <path>', 'checkpoint written by train')
  .option(
    '--data <dir>',
    'directory with the Fashion-MNIST IDX files (default: the bundled subset)',
  )
  .addOption(threadsOption())
  .action((o) => {
    useThreads(o.threads);
    runEval(o);
  });

program
  .command('demo')
  .description('the same CNN with and without BatchNorm, side by side (npm start)')
  .option('--epochs <n>', 'epochs per model', int('--epochs'), 5)
  .option('--width <n>', 'channels of the first conv', int('--width'), 32)
  .option('--lr <x>', 'SGD learning rate', num('--lr'), 0.1)
  .option('--seed <n>', 'random seed', int('--seed', 0), 0)
  .option(
    '--data <dir>',
    'directory with the Fashion-MNIST IDX files (default: the bundled subset)',
  )
  .option('--train-limit <n>', 'use only the first n training images', int('--train-limit'))
  .option('--test-limit <n>', 'evaluate on only the first n test images', int('--test-limit'))
  .option(
    '--parallel <n>',
    'models trained at once, 1 or 2 (default: one per core)',
    int('--parallel'),
  )
  .action(async (o) => {
    await runDemo(o);
  });

program
  .command('doctor')
  .description('check a trained run for BatchNorm pitfalls (exit 1 on an error-level finding)')
  .requiredOption('--checkpoint <path>', 'checkpoint written by train')
  .action((o) => {
    if (runDoctor(o).some((f) => f.severity === 'error')) process.exitCode = 1;
  });

program
  .command('recalibrate')
  .description("re-estimate a run's BatchNorm statistics on training batches (PyTorch's update_bn)")
  .requiredOption('--checkpoint <path>', 'checkpoint written by train')
  .option(
    '--data <dir>',
    'directory with the Fashion-MNIST IDX files (default: the bundled subset)',
  )
  .option('--batches <n>', 'training batches to average over', int('--batches'), 100)
  .option('--out <path>', 'where to save the run (default: the checkpoint itself, atomically)')
  .addOption(threadsOption())
  .action((o) => {
    useThreads(o.threads);
    runRecalibrate(o);
  });

program
  .command('certify')
  .description(
    'Lipschitz bound and certified accuracy of a run on test images, or --verify a certificate',
  )
  .requiredOption('--checkpoint <path>', 'checkpoint written by train')
  .option(
    '--data <dir>',
    'directory with the Fashion-MNIST IDX files (default: the bundled subset)',
  )
  .option('--test-limit <n>', 'test images to certify', int('--test-limit'), 1000)
  .option('--out <file>', 'write the certificate (JSON) here')
  .option('--verify <file>', 'check that a certificate still holds for the checkpoint')
  .addOption(threadsOption())
  .action((o) => {
    useThreads(o.threads);
    runCertify(o);
  });

program
  .command('gan')
  .description('train a small DCGAN with a chosen discriminator norm; samples as a PNG grid')
  .addOption(
    new Option('--disc-norm <kind>', "the discriminator's normalization")
      .choices(DISC_NORMS)
      .default('spectral'),
  )
  .option(
    '--steps <n>',
    'training steps (one discriminator and one generator update each)',
    int('--steps'),
    300,
  )
  .option('--batch-size <n>', 'mini-batch size', int('--batch-size'), 64)
  .option('--seed <n>', 'random seed', int('--seed', 0), 0)
  .option('--out <dir>', 'where the samples go', 'runs')
  .option(
    '--data <dir>',
    'directory with the Fashion-MNIST IDX files (default: the bundled subset)',
  )
  .option('--train-limit <n>', 'use only the first n training images', int('--train-limit'))
  .addOption(threadsOption())
  .action((o) => {
    useThreads(o.threads);
    runGan(o);
  });

program
  .command('playground')
  .description('serve the playground page (two networks trained side by side in the browser)')
  .option('--port <n>', 'port (0: any free one)', int('--port', 0), 8080)
  .option('--host <address>', 'address to listen on', '127.0.0.1')
  .option('--no-isolation', 'do not send the cross-origin isolation headers (one thread per run)')
  .action((o) => runPlayground(o));

const lab = program
  .command('lab')
  .description('claims about batch normalization, measured (see docs/lab/README.md)');
lab
  .command('list')
  .description('the experiments, their claims and quick-mode times')
  .action(() => console.log(labList()));
lab
  .command('run')
  .description('run experiments (quick mode unless --full); writes NAME.json, NAME.svg, index.html')
  .argument('[names...]', 'experiments to run (see lab list)')
  .option('--all', 'run every experiment', false)
  .option('--full', 'full mode: longer schedules, 3 seeds, the full set with --data', false)
  .option('--seeds <n>', 'seeds per experiment (default 1, or 3 with --full)', int('--seeds'))
  .option('--out <dir>', 'where results go', 'lab-results')
  .option(
    '--data <dir>',
    'directory with the Fashion-MNIST IDX files (default: the bundled subset)',
  )
  .addOption(threadsOption())
  .action(async (names: string[], o) => {
    useThreads(o.threads);
    await labRun(names, o);
  });
lab
  .command('report')
  .description('rewrite index.html from the results in --out')
  .option('--out <dir>', 'where the results are', 'lab-results')
  .option('--markdown', 'print the results as Markdown (figures linked from --out)', false)
  .action((o) => labReport(o.out, o.markdown));

program.parseAsync().catch((e: Error) => {
  console.error(`normkit: ${e.message}`);
  process.exit(1);
});
