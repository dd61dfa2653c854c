// Child process for the crash test: a tiny UNet whose parameters are all set to the step number
// before each checkpoint, saved in a loop until killed. Prints "saved N" after each save.
import { createRequire } from 'node:module';
const require = createRequire(import.meta.url);
const ie = require(process.argv[2]);
const root = process.argv[3];
const config = JSON.parse(process.argv[4]);
const unet = await ie.UNet2DConditionModel.fromConfig(config, { seed: 1 });
const noiseScheduler = ie.createScheduler({ _class_name: 'DDPMScheduler' });
const trainer = new ie.Trainer(unet, { noiseScheduler, emaDecay: 0.5 });
const n = unet.flatParameters().shape[0];
for (let step = 1; ; step++) {
  const v = ie.full([n], step);
  ie.ops.assign(unet.flatParameters(), v);
  ie.ops.assign(trainer.emaParameters(), v);
  v.dispose();
  trainer.restore({ microStep: step, step, seed: 0 }, { m: trainer.optimizerState().m, v: trainer.optimizerState().v });
  await ie.saveCheckpoint(root, trainer, { keep: 2, data: { position: step } });
  process.stdout.write(`saved ${step}\n`);
}
