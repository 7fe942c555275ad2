"""The `bloomreach` component: Bloomreach Engagement tracking through the batch endpoint."""
