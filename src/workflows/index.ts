// The pipeline workflow arrives with the orchestration code; this name is the wire name.
export async function generationPipeline(): Promise<void> {}
