"""Patch whitening: the frozen first convolution of the fast network (airbench's idea).

Its filters decorrelate the image's ``size`` x ``size`` patches: eigenvectors of the patches'
uncentered covariance scaled by the inverse square root of the eigenvalues, once with each
sign. :class:`~sk_cnn.networks._airbench.AirbenchNet` sets them from training images when
training begins.
"""

from __future__ import annotations

import torch


def image_patches(X: torch.Tensor, size: int) -> torch.Tensor:
    """All ``size`` x ``size`` patches of a batch, flattened: ``(N * P, C * size * size)``.

    The flattening order matches a convolution weight ``(out, C, size, size)``.
    """
    n, c = X.shape[:2]
    patches = X.unfold(2, size, 1).unfold(3, size, 1)  # N, C, H', W', size, size
    return patches.permute(0, 2, 3, 1, 4, 5).reshape(-1, c * size * size)


def whitening_weights(X: torch.Tensor, size: int = 2, eps: float = 5e-4) -> torch.Tensor:
    """Weights of a whitening convolution: ``(2 * C * size**2, C, size, size)``.

    With ``V`` the eigenvectors and ``L`` the eigenvalues (largest first) of the uncentered
    covariance of the patches, the first half of the filters is ``V.T / sqrt(L + eps)``, the
    second half its negative. Convolving X with the first half gives outputs whose covariance
    is ``L / (L + eps)`` on the diagonal, near the identity.

    Parameters
    ----------
    X : torch.Tensor of shape (N, C, H, W)
        Float images.
    size : int, default=2
        Patch size.
    eps : float, default=5e-4
        Regularization of small eigenvalues.

    Returns
    -------
    weight : torch.Tensor
        float32 convolution weights.
    """
    c = X.shape[1]
    dim = c * size * size
    # The covariance where X is (float64 works on CPUs and CUDA GPUs), the small eigenproblem
    # on the CPU.
    device = X.device if X.device.type == "cuda" else torch.device("cpu")
    covariance = torch.zeros(dim, dim, dtype=torch.float64, device=device)
    count = 0
    for chunk in torch.split(X, 500):
        patches = image_patches(chunk.detach().to(device, torch.float64), size)
        covariance += patches.T @ patches
        count += len(patches)
    eigenvalues, eigenvectors = torch.linalg.eigh(covariance.cpu() / count)
    eigenvalues, eigenvectors = eigenvalues.flip(0), eigenvectors.flip(1)
    scaled = eigenvectors.T / torch.sqrt(eigenvalues.clamp(min=0) + eps)[:, None]
    weight = scaled.reshape(dim, c, size, size)
    return torch.cat([weight, -weight]).float()
