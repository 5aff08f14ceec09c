/* (reserved for the engine's `run IMAGE`) */
