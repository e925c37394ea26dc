"""Candidate sources: in-batch, explicit hard negatives, queue, mined, gathered across devices."""
from multicl.negatives.sources.base import CandidateBlock, CandidateSource, StepContext
from multicl.negatives.sources.explicit import ExplicitHardNegatives
from multicl.negatives.sources.gathered import GatheredNegatives
from multicl.negatives.sources.in_batch import InBatchNegatives
from multicl.negatives.sources.mined import MinedNegatives
from multicl.negatives.sources.queue import QueueNegatives

__all__ = ["CandidateBlock", "CandidateSource", "ExplicitHardNegatives", "GatheredNegatives", "InBatchNegatives",
           "MinedNegatives", "QueueNegatives", "StepContext"]
