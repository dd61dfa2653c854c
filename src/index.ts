// instructedit: instruction-based image editing on native kernels. This entry exports the
// foundation (tensors, ops forward and backward, scopes, runtime controls, checkpoints) and the models.
export { Tensor, tensor, zeros, ones, full, randn, rand, manualSeed } from './tensor';
export type { CreateOptions, RandomOptions } from './tensor';
export { scope, keep } from './scope';
export { backends, getNumThreads, setNumThreads, setCpuPath, synchronize, memoryStats, emptyCache } from './runtime';
export type { Backends, MemoryStats } from './runtime';
export type { DType, Device, Shape, TensorData } from './types';
export { loadSafetensors, readSafetensorsHeader, saveSafetensors, type LoadSafetensorsOptions, type SaveSafetensorsOptions, type SafetensorsHeader, type SafetensorsDType } from './io/safetensors';
export {
  UNet2DConditionModel,
  type UNetConfig,
  type UNetFromPretrainedOptions,
  type UNetFromConfigOptions,
  type UNetForwardOptions,
  type UNetBackwardOptions,
  type UNetInputGradients,
  type UNetMemoryStats,
} from './models/unet';
export {
  AutoencoderKL,
  SD_VAE_CONFIG,
  type AutoencoderKLConfig,
  type AutoencoderKLFromPretrainedOptions,
  type AutoencoderKLFromConfigOptions,
  type VAETilingOptions,
  type VAETilingDefaults,
  type VAERunOptions,
  type LatentDistribution,
  type VAEMemoryStats,
} from './models/vae';
export {
  Scheduler,
  createScheduler,
  type SchedulerConfig,
  type SchedulerClassName,
  type SchedulerShortName,
  type CreateSchedulerOptions,
  type SchedulerStepOptions,
  type SchedulerStepOutput,
} from './schedulers';
export {
  CLIPTextModel,
  CLIP_VIT_L14_TEXT_CONFIG,
  type CLIPTextConfig,
  type CLIPTextFromPretrainedOptions,
  type CLIPTextFromConfigOptions,
  type CLIPTextForwardOptions,
  type CLIPTextOutput,
} from './models/clip_text';
export { PixelUnshuffleAutoencoder, type PixelUnshuffleConfig, type PixelUnshuffleOptions } from './models/pixel_unshuffle';
export { autoencoderKind, loadAutoencoder, type ImageAutoencoder, type AutoencoderKind } from './models/autoencoder';
export {
  CLIPTokenizer,
  type CLIPTokenizerOptions,
  type CLIPEncodeOptions,
  type CLIPDecodeOptions,
  type TokenIds,
} from './text/clip_tokenizer';
import * as ops from './ops';
export { ops };
export { Editor, SCHEDULER_NAMES, DEFAULT_MODEL_DIR, type EditorOptions, type EditOptions, type EditProgress, type EditDefaults } from './editor';
export { EditResult, type RawImage } from './pipeline/result';
export { denoise, type DenoiseArgs, type DenoiseProgress } from './pipeline/denoise';
export { prepareImage, fitSize, type ImageInput, type PrepareImageOptions, type PreparedImage } from './image';
export { Trainer, type TrainerOptions, type TripletOptions, type TrainBatch, type StepResult, type TrainerState, type LRSchedule } from './train/trainer';
export { saveCheckpoint, loadCheckpoint, latestCheckpoint, type CheckpointState, type SaveCheckpointOptions } from './train/checkpoint';
export { BatchEncoder, disposeTrainBatch, type ImageTextBatch, type BatchEncoderOptions } from './train/encode';
export {
  EditDataset,
  DataLoader,
  DataError,
  createDataLoader,
  readManifest,
  type ManifestRecord,
  type ManifestOptions,
  type BadRecord,
  type DataLoaderOptions,
  type ResolvedDataLoaderOptions,
  type DataLoaderState,
  type DataLoaderStats,
  type EditBatch,
  type ItemAugment,
} from './train/data';
export {
  makeNegatives,
  negativeEdits,
  NEGATIVE_ATTRIBUTES,
  NEGATIVE_WORDS,
  type NegativeAttribute,
  type NegativeEdit,
  type NegativeOptions,
} from './train/negatives';
export { runTraining, readTrainConfig, type TrainConfig, type TrainProgress, type RunTrainingOptions } from './train/run';
export { trainClipBpe, writeClipTokenizer, type TrainBpeOptions, type BpeVocabulary } from './text/bpe_train';
export { newPipeline, type NewPipelineOptions } from './train/new_pipeline';
// ShapeEdit (synthetic scenes, edits with exact targets and masks, the dataset writer, the checks)
// as a namespace: its names (SIZES, CELLS, psnr, ...) are too generic for the package root.
import * as shapes from './shapes';
export { shapes };
