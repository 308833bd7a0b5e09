-- A source's checkpoint: the latest version.
SELECT argMax(checkpoint, version) AS checkpoint
FROM source_checkpoints
WHERE source = {source:String}
GROUP BY source
