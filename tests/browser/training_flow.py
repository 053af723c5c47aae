"""The Training page's main action in a browser: train a tiny MLP and see its scores."""
from __future__ import annotations

EPOCHS = "3"


async def train_tiny_model(page, url: str, idle) -> None:
    """Open the Training page, pick the MLP with a few epochs, train, wait for the score table."""
    await page.goto(url + "/training")
    await page.get_by_role("heading", name="Train models").wait_for()
    await idle(page)
    await page.get_by_role("tab", name="Train & compare").click()
    model = page.get_by_label("Model", exact=True)
    await model.click()
    await page.get_by_role("option", name="mlp", exact=True).click()
    await idle(page)
    epochs = page.get_by_role("spinbutton", name="Most epochs")
    await epochs.fill(EPOCHS)
    await epochs.press("Enter")
    await idle(page)
    await page.get_by_role("button", name="Train", exact=True).click()
    await page.get_by_text("Scores on").first.wait_for()
    await idle(page)
