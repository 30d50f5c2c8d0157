// Steering: the controls that change what attention does (and, later, read it), their contract,
// and the per-site table both backends hand to the network.
export * from './control';
export * from './controls';
export * from './site-target';
export * from './link-values';
export * from './step-range';
export * from './step-range-setting';
export * from './attention-multipliers';
export * from './attention-multipliers-reference';
export * from './clip-attention-multipliers';
export * from './freeu';
export * from './freeu-reference';
export * from './perturbed-attention-guidance';
export * from './perturbed-attention-reference';
export * from './attention-maps';
export * from './attention-maps-reference';
